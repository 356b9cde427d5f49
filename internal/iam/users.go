package iam

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/podid/podid/internal/auth"
	"github.com/podid/podid/internal/awsproto"
	"github.com/podid/podid/internal/ids"
	"github.com/podid/podid/internal/store"
)

// CreateUserInput is CreateUser's request.
type CreateUserInput struct {
	UserName            string
	Path                string // "/" when empty
	PermissionsBoundary string
	Tags                []store.Tag
}

// UserOutput is the result of CreateUser and GetUser. For the account
// root (GetUser without a name, called by root) User has the root's ARN,
// the account ID as UserID and no name or path.
type UserOutput struct {
	User *store.User
}

// GetUserInput is GetUser's request; an empty UserName means the caller.
type GetUserInput struct {
	UserName string
}

// ListUsersInput is ListUsers' request.
type ListUsersInput struct {
	PathPrefix string
	Marker     string
	MaxItems   *int
}

// ListUsersOutput is ListUsers' result.
type ListUsersOutput struct {
	Users       []*store.User
	IsTruncated bool
	Marker      string
}

// DeleteUserInput is DeleteUser's request.
type DeleteUserInput struct {
	UserName string
}

// CreateAccessKeyInput is CreateAccessKey's request; an empty UserName
// means the caller (the root's own key when the caller is root).
type CreateAccessKeyInput struct {
	UserName string
}

// AccessKey is a new access key with its secret, shown only once.
type AccessKey struct {
	UserName        string // empty for the account root
	AccessKeyID     string
	Status          string
	SecretAccessKey string
	CreateDate      time.Time
}

// CreateAccessKeyOutput is CreateAccessKey's result.
type CreateAccessKeyOutput struct {
	AccessKey AccessKey
}

// ListAccessKeysInput is ListAccessKeys' request; an empty UserName means
// the caller.
type ListAccessKeysInput struct {
	UserName string
	Marker   string
	MaxItems *int
}

// AccessKeyMetadata describes an access key without its secret.
type AccessKeyMetadata struct {
	UserName    string
	AccessKeyID string
	Status      string
	CreateDate  time.Time
}

// ListAccessKeysOutput is ListAccessKeys' result.
type ListAccessKeysOutput struct {
	AccessKeyMetadata []AccessKeyMetadata
	IsTruncated       bool
	Marker            string
}

// UpdateAccessKeyInput is UpdateAccessKey's request.
type UpdateAccessKeyInput struct {
	UserName    string
	AccessKeyID string
	Status      string // Active or Inactive
}

// DeleteAccessKeyInput is DeleteAccessKey's request.
type DeleteAccessKeyInput struct {
	UserName    string
	AccessKeyID string
}

// PutUserPermissionsBoundaryInput is PutUserPermissionsBoundary's request.
type PutUserPermissionsBoundaryInput struct {
	UserName            string
	PermissionsBoundary string
}

// DeleteUserPermissionsBoundaryInput is DeleteUserPermissionsBoundary's request.
type DeleteUserPermissionsBoundaryInput struct {
	UserName string
}

// Access key statuses.
const (
	StatusActive   = "Active"
	StatusInactive = "Inactive"
)

func getUserTx(tx store.Tx, account, name string) (*store.User, error) {
	u, err := tx.GetUser(account, name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, noSuchUser(name)
	}
	return u, err
}

// authorizeUser authorizes action on a user (its real ARN and tags when it
// exists, the path-less ARN otherwise) and returns it (nil when missing).
func (s *Service) authorizeUser(ctx context.Context, action, name string, extra map[string][]string) (*store.User, error) {
	var u *store.User
	err := s.view(ctx, func(tx store.Tx) error {
		var gerr error
		u, gerr = tx.GetUser(s.account, name)
		if errors.Is(gerr, store.ErrNotFound) {
			u = nil
			return nil
		}
		return gerr
	})
	if err != nil {
		return nil, err
	}
	arn := s.userARN("/", name)
	if u != nil {
		arn = u.ARN
		extra = resourceTagContext(extra, u.Tags)
	}
	if err := s.authorize(ctx, action, arn, extra); err != nil {
		return nil, err
	}
	return u, nil
}

// nonUser is IAM's answer when an operation that defaults to the caller's
// user is called with role-session credentials.
func nonUser() *awsproto.Error {
	return awsproto.Errorf(http.StatusBadRequest, codeValidationError, "Must specify userName when calling with non-User credentials")
}

// callerUserName resolves an omitted UserName to the caller: the caller's
// own user name, or root=true for the account root.
func callerUserName(ctx context.Context) (name string, root bool, err error) {
	p := auth.PrincipalFrom(ctx)
	switch {
	case p == nil:
		return "", false, awsproto.Errorf(http.StatusForbidden, "MissingAuthenticationToken", "Request is missing Authentication Token")
	case p.IsRoot():
		return "", true, nil
	case p.Type == auth.User && p.Name != "":
		return p.Name, false, nil
	}
	return "", false, nonUser()
}

// CreateUser creates an IAM user.
func (s *Service) CreateUser(ctx context.Context, in *CreateUserInput) (*UserOutput, error) {
	s = s.forCaller(ctx)
	var v violations
	v.name(in.UserName, "userName", maxNameLen)
	v.path(in.Path, "path")
	v.arn(in.PermissionsBoundary, "permissionsBoundary", false)
	v.tags(in.Tags, "tags")
	if err := v.err(); err != nil {
		return nil, err
	}
	if err := checkTagRules(in.Tags); err != nil {
		return nil, err
	}
	path := orRoot(in.Path)
	arn := s.userARN(path, in.UserName)
	extra := tagContext(nil, in.Tags)
	if in.PermissionsBoundary != "" {
		extra = withKey(extra, "iam:PermissionsBoundary", in.PermissionsBoundary)
	}
	if err := s.authorize(ctx, "iam:CreateUser", arn, extra); err != nil {
		return nil, err
	}
	if len(in.Tags) > 0 {
		if err := s.authorize(ctx, "iam:TagUser", arn, tagContext(nil, in.Tags)); err != nil {
			return nil, err
		}
	}
	u := &store.User{
		Account:             s.account,
		ID:                  ids.NewUserID(),
		Name:                in.UserName,
		Path:                path,
		ARN:                 arn,
		PermissionsBoundary: in.PermissionsBoundary,
		Tags:                in.Tags,
		CreatedAt:           s.clock(),
	}
	err := s.update(ctx, func(tx store.Tx) error {
		if in.PermissionsBoundary != "" {
			if err := s.requireBoundary(tx, in.PermissionsBoundary); err != nil {
				return err
			}
		}
		exists := alreadyExists("User with name %s already exists.", in.UserName)
		if _, err := tx.GetUser(s.account, in.UserName); err == nil {
			return exists
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if err := tx.CreateUser(u); errors.Is(err, store.ErrConflict) {
			return exists
		} else if err != nil {
			return err
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &UserOutput{User: u}, nil
}

// GetUser returns a user, or the caller when UserName is empty.
func (s *Service) GetUser(ctx context.Context, in *GetUserInput) (*UserOutput, error) {
	s = s.forCaller(ctx)
	name := in.UserName
	if name == "" {
		caller, root, err := callerUserName(ctx)
		if err != nil {
			return nil, err
		}
		if root {
			if err := s.authorize(ctx, "iam:GetUser", s.rootARN(), nil); err != nil {
				return nil, err
			}
			return &UserOutput{User: &store.User{ID: s.account, ARN: s.rootARN(), CreatedAt: s.created}}, nil
		}
		name = caller
	}
	var v violations
	v.name(name, "userName", maxExistingUserLen)
	if err := v.err(); err != nil {
		return nil, err
	}
	u, err := s.authorizeUser(ctx, "iam:GetUser", name, nil)
	if err != nil {
		return nil, err
	}
	if u == nil {
		return nil, noSuchUser(name)
	}
	return &UserOutput{User: u}, nil
}

// ListUsers lists users by name, optionally under a path prefix.
func (s *Service) ListUsers(ctx context.Context, in *ListUsersInput) (*ListUsersOutput, error) {
	s = s.forCaller(ctx)
	var v violations
	v.pathPrefix(in.PathPrefix, "pathPrefix")
	v.paging(in.Marker, in.MaxItems)
	if err := v.err(); err != nil {
		return nil, err
	}
	prefix := orRoot(in.PathPrefix)
	if err := s.authorize(ctx, "iam:ListUsers", s.userARN(prefix, ""), nil); err != nil {
		return nil, err
	}
	out := &ListUsersOutput{}
	err := s.view(ctx, func(tx store.Tx) error {
		users, next, err := collect(in.Marker, pageSize(in.MaxItems),
			func(after string, n int) ([]*store.User, error) {
				return tx.ListUsers(s.account, prefix, store.Page{After: after, Limit: n})
			},
			func(u *store.User) string { return u.Name }, nil)
		out.Users, out.Marker, out.IsTruncated = users, next, next != ""
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DeleteUser deletes a user that has no login profile, policies or access
// keys left.
func (s *Service) DeleteUser(ctx context.Context, in *DeleteUserInput) error {
	s = s.forCaller(ctx)
	var v violations
	v.name(in.UserName, "userName", maxExistingUserLen)
	if err := v.err(); err != nil {
		return err
	}
	if _, err := s.authorizeUser(ctx, "iam:DeleteUser", in.UserName, nil); err != nil {
		return err
	}
	return s.update(ctx, func(tx store.Tx) error {
		u, err := getUserTx(tx, s.account, in.UserName)
		if err != nil {
			return err
		}
		if u.LoginProfile != nil {
			return deleteConflict("Cannot delete entity, must delete login profile first.")
		}
		attached, err := tx.ListAttachedPolicies(store.KindUser, s.account, in.UserName, store.Page{Limit: 1})
		if err != nil {
			return err
		}
		if len(attached) > 0 {
			return deleteConflict("Cannot delete entity, must detach all policies first.")
		}
		inline, err := tx.ListInlinePolicies(store.KindUser, s.account, in.UserName, store.Page{Limit: 1})
		if err != nil {
			return err
		}
		if len(inline) > 0 {
			return deleteConflict("Cannot delete entity, must delete policies first.")
		}
		keys, err := tx.ListAccessKeys(s.account, in.UserName)
		if err != nil {
			return err
		}
		if len(keys) > 0 {
			return deleteConflict("Cannot delete entity, must delete access keys first.")
		}
		return tx.DeleteUser(s.account, in.UserName)
	})
}

// keyOwner resolves the user an access-key operation is about: the named
// user, or the caller. It authorizes action on that user (or on the root)
// and returns the store's user name ("" for the root).
func (s *Service) keyOwner(ctx context.Context, action, userName string) (string, error) {
	if userName == "" {
		caller, root, err := callerUserName(ctx)
		if err != nil {
			return "", err
		}
		if root {
			return "", s.authorize(ctx, action, s.rootARN(), nil)
		}
		userName = caller
	}
	var v violations
	v.name(userName, "userName", maxExistingUserLen)
	if err := v.err(); err != nil {
		return "", err
	}
	if _, err := s.authorizeUser(ctx, action, userName, nil); err != nil {
		return "", err
	}
	return userName, nil
}

// CreateAccessKey creates a long-term access key. The secret is sealed
// with the keyring (associated data: the key ID) and returned only here.
func (s *Service) CreateAccessKey(ctx context.Context, in *CreateAccessKeyInput) (*CreateAccessKeyOutput, error) {
	s = s.forCaller(ctx)
	owner, err := s.keyOwner(ctx, "iam:CreateAccessKey", in.UserName)
	if err != nil {
		return nil, err
	}
	id := ids.NewAccessKeyID()
	secret := ids.NewSecretAccessKey()
	sealed, err := s.keyring.Seal([]byte(secret), []byte(id))
	if err != nil {
		return nil, serviceFailure(errors.New("iam: seal access key secret failed"))
	}
	k := &store.AccessKey{Account: s.account, ID: id, UserName: owner, SealedSecret: sealed, Status: StatusActive, CreatedAt: s.clock()}
	err = s.update(ctx, func(tx store.Tx) error {
		if owner != "" {
			if _, err := getUserTx(tx, s.account, owner); err != nil {
				return err
			}
		}
		keys, err := tx.ListAccessKeys(s.account, owner)
		if err != nil {
			return err
		}
		if len(keys) >= maxAccessKeys {
			return limitExceeded("Cannot exceed quota for AccessKeysPerUser: %d", maxAccessKeys)
		}
		return tx.CreateAccessKey(k)
	})
	if err != nil {
		return nil, err
	}
	return &CreateAccessKeyOutput{AccessKey: AccessKey{
		UserName: owner, AccessKeyID: id, Status: k.Status, SecretAccessKey: secret, CreateDate: k.CreatedAt,
	}}, nil
}

// ListAccessKeys lists a user's (or the caller's) access keys without secrets.
func (s *Service) ListAccessKeys(ctx context.Context, in *ListAccessKeysInput) (*ListAccessKeysOutput, error) {
	s = s.forCaller(ctx)
	var v violations
	v.paging(in.Marker, in.MaxItems)
	if err := v.err(); err != nil {
		return nil, err
	}
	owner, err := s.keyOwner(ctx, "iam:ListAccessKeys", in.UserName)
	if err != nil {
		return nil, err
	}
	var keys []*store.AccessKey
	err = s.view(ctx, func(tx store.Tx) error {
		if owner != "" {
			if _, err := getUserTx(tx, s.account, owner); err != nil {
				return err
			}
		}
		var lerr error
		keys, lerr = tx.ListAccessKeys(s.account, owner)
		return lerr
	})
	if err != nil {
		return nil, err
	}
	page, next, err := slicePage(keys, in.Marker, pageSize(in.MaxItems))
	if err != nil {
		return nil, err
	}
	out := &ListAccessKeysOutput{IsTruncated: next != "", Marker: next}
	for _, k := range page {
		out.AccessKeyMetadata = append(out.AccessKeyMetadata, AccessKeyMetadata{
			UserName: k.UserName, AccessKeyID: k.ID, Status: k.Status, CreateDate: k.CreatedAt,
		})
	}
	return out, nil
}

// ownedKeyTx reads an access key that must belong to owner.
func (s *Service) ownedKeyTx(tx store.Tx, owner, id string) (*store.AccessKey, error) {
	if owner != "" {
		if _, err := getUserTx(tx, s.account, owner); err != nil {
			return nil, err
		}
	}
	k, err := tx.GetAccessKey(id)
	if errors.Is(err, store.ErrNotFound) || err == nil && (k.UserName != owner || k.Account != s.account) {
		return nil, noSuchAccessKey(id)
	}
	return k, err
}

func (v *violations) accessKeyID(id string) {
	v.requiredString(id, "accessKeyId", minAccessKeyIDLen, 128, accessKeyPattern, accessKeyPatternText)
}

// UpdateAccessKey activates or deactivates an access key.
func (s *Service) UpdateAccessKey(ctx context.Context, in *UpdateAccessKeyInput) error {
	s = s.forCaller(ctx)
	var v violations
	v.accessKeyID(in.AccessKeyID)
	switch in.Status {
	case "":
		v.null("status")
	case StatusActive, StatusInactive:
	default:
		v.add(in.Status, "status", "Member must satisfy enum value set: [Active, Inactive, Expired]")
	}
	if err := v.err(); err != nil {
		return err
	}
	owner, err := s.keyOwner(ctx, "iam:UpdateAccessKey", in.UserName)
	if err != nil {
		return err
	}
	return s.update(ctx, func(tx store.Tx) error {
		k, err := s.ownedKeyTx(tx, owner, in.AccessKeyID)
		if err != nil {
			return err
		}
		k.Status = in.Status
		return tx.UpdateAccessKey(k)
	})
}

// DeleteAccessKey deletes an access key of a user (or of the caller).
func (s *Service) DeleteAccessKey(ctx context.Context, in *DeleteAccessKeyInput) error {
	s = s.forCaller(ctx)
	var v violations
	v.accessKeyID(in.AccessKeyID)
	if err := v.err(); err != nil {
		return err
	}
	owner, err := s.keyOwner(ctx, "iam:DeleteAccessKey", in.UserName)
	if err != nil {
		return err
	}
	return s.update(ctx, func(tx store.Tx) error {
		if _, err := s.ownedKeyTx(tx, owner, in.AccessKeyID); err != nil {
			return err
		}
		return tx.DeleteAccessKey(in.AccessKeyID)
	})
}

// PutUserPermissionsBoundary sets a managed policy as a user's permissions boundary.
func (s *Service) PutUserPermissionsBoundary(ctx context.Context, in *PutUserPermissionsBoundaryInput) error {
	s = s.forCaller(ctx)
	return s.putHolderBoundary(ctx, userHolder, maxNameLen, in.UserName, in.PermissionsBoundary)
}

// DeleteUserPermissionsBoundary removes a user's permissions boundary.
func (s *Service) DeleteUserPermissionsBoundary(ctx context.Context, in *DeleteUserPermissionsBoundaryInput) error {
	s = s.forCaller(ctx)
	return s.deleteHolderBoundary(ctx, userHolder, maxNameLen, in.UserName)
}

// TagUserInput is TagUser's request.
type TagUserInput struct {
	UserName string
	Tags     []store.Tag
}

// UntagUserInput is UntagUser's request.
type UntagUserInput struct {
	UserName string
	TagKeys  []string
}

// ListUserTagsInput is ListUserTags' request.
type ListUserTagsInput struct {
	UserName string
	Marker   string
	MaxItems *int
}

// TagUser adds tags to a user or replaces the values of existing keys.
func (s *Service) TagUser(ctx context.Context, in *TagUserInput) error {
	s = s.forCaller(ctx)
	return s.tagHolder(ctx, userHolder, in.UserName, in.Tags)
}

// UntagUser removes tags from a user; absent keys are ignored.
func (s *Service) UntagUser(ctx context.Context, in *UntagUserInput) error {
	s = s.forCaller(ctx)
	return s.untagHolder(ctx, userHolder, in.UserName, in.TagKeys)
}

// ListUserTags lists a user's tags.
func (s *Service) ListUserTags(ctx context.Context, in *ListUserTagsInput) (*ListTagsOutput, error) {
	s = s.forCaller(ctx)
	return s.listHolderTags(ctx, userHolder, in.UserName, in.Marker, in.MaxItems)
}
