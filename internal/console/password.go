package console

import (
	"context"
	"net/http"

	"github.com/podid/podid/internal/auth"
	"github.com/podid/podid/internal/iam"
)

// PasswordChanger changes the signed-in user's console password (IAM's
// ChangePassword, as that user). *iam.Service implements it.
type PasswordChanger interface {
	ChangePassword(ctx context.Context, in *iam.ChangePasswordInput) error
}

type passwordData struct {
	// Required says the password must be changed before anything else.
	Required bool
}

// passwordPage shows the change-password form (IAM users only).
func (c *Console) passwordPage(w http.ResponseWriter, r *request) {
	c.showPassword(w, r, http.StatusOK, nil)
}

func (c *Console) showPassword(w http.ResponseWriter, r *request, status int, e *apiError) {
	p := signedPage(r, "password", "Change your password", &passwordData{Required: r.sess.Change})
	p.Error = e
	c.render(w, r.Request, status, "password", p)
}

// changePassword is IAM's ChangePassword as the signed-in user; on
// success the session is replaced by a new one (and a must-change session
// becomes a full one).
func (c *Console) changePassword(w http.ResponseWriter, r *request) {
	if c.cfg.PasswordChanger == nil || r.p.Type != auth.User {
		c.showPassword(w, r, http.StatusBadRequest, &apiError{Code: "InvalidUserType", Message: "Only IAM users have console passwords; the root user signs in with its access key."})
		return
	}
	f := r.PostForm
	if f.Get("newPassword") != f.Get("confirmPassword") {
		c.showPassword(w, r, http.StatusBadRequest, &apiError{Code: "PasswordMismatch", Message: "The new password and its confirmation differ."})
		return
	}
	if err := c.cfg.PasswordChanger.ChangePassword(r.ctx, &iam.ChangePasswordInput{OldPassword: f.Get("oldPassword"), NewPassword: f.Get("newPassword")}); err != nil {
		c.showPassword(w, r, statusOf(err), c.apiError(r.ctx, "ChangePassword", err))
		return
	}
	secure := c.secure(r.Request)
	if err := c.sessions.end(r.Context(), w, secure, r.sess); err != nil {
		c.cfg.Logger.ErrorContext(r.Context(), "console: ending the session after a password change", "err", err)
		http.Error(w, "The password changed, but the session could not be renewed; sign in again.", http.StatusServiceUnavailable)
		return
	}
	if _, err := c.sessions.issue(w, secure, r.p, false); err != nil {
		c.cfg.Logger.ErrorContext(r.Context(), "console: session after a password change", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	c.cfg.Logger.InfoContext(r.Context(), "console password changed", "caller", r.p.ARN)
	http.Redirect(w, r.Request, Prefix+"clusters", http.StatusSeeOther)
}
