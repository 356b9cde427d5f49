package sqlite

import (
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/podid/podid/internal/store"
)

// ---- Login profiles and account password policies ----

// A user's login profile is JSON in users.login_profile; none is NULL.

func encLoginProfile(lp *store.LoginProfile) (any, error) {
	if lp == nil {
		return nil, nil
	}
	b, err := json.Marshal(lp)
	if err != nil {
		return nil, fmt.Errorf("encode login profile: %w", err)
	}
	return string(b), nil
}

func decLoginProfile(s sql.NullString) (*store.LoginProfile, error) {
	if !s.Valid || s.String == "" {
		return nil, nil
	}
	var lp store.LoginProfile
	if err := json.Unmarshal([]byte(s.String), &lp); err != nil {
		return nil, fmt.Errorf("decode login profile: %w", err)
	}
	return &lp, nil
}

const passwordPolicyCols = `account_id, minimum_password_length, require_symbols, require_numbers,
	require_uppercase_characters, require_lowercase_characters, allow_users_to_change,
	max_password_age, password_reuse_prevention, hard_expiry`

const (
	sqlPasswordPolicyPut = `INSERT OR REPLACE INTO password_policies (` + passwordPolicyCols + `)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	sqlPasswordPolicyGet    = `SELECT ` + passwordPolicyCols + ` FROM password_policies WHERE account_id = ?`
	sqlPasswordPolicyDelete = `DELETE FROM password_policies WHERE account_id = ?`
)

func scanPasswordPolicy(sc scanner) (*store.PasswordPolicy, error) {
	var p store.PasswordPolicy
	var hard sql.NullBool
	if err := sc.Scan(&p.AccountID, &p.MinimumPasswordLength, &p.RequireSymbols, &p.RequireNumbers,
		&p.RequireUppercaseCharacters, &p.RequireLowercaseCharacters, &p.AllowUsersToChangePassword,
		&p.MaxPasswordAge, &p.PasswordReusePrevention, &hard); err != nil {
		return nil, err
	}
	if hard.Valid {
		p.HardExpiry = &hard.Bool
	}
	return &p, nil
}

// GetPasswordPolicy returns the account's password policy; ErrNotFound
// when it has none.
func (t *tx) GetPasswordPolicy(accountID string) (*store.PasswordPolicy, error) {
	p, err := one(t, scanPasswordPolicy, sqlPasswordPolicyGet, accountID)
	return p, mapErr(err, "sqlite: get password policy of %q", accountID)
}

// PutPasswordPolicy inserts or replaces the policy of p.AccountID.
func (t *tx) PutPasswordPolicy(p *store.PasswordPolicy) error {
	if p == nil {
		return errNil("put password policy")
	}
	var hard any
	if p.HardExpiry != nil {
		hard = *p.HardExpiry
	}
	_, err := t.exec(sqlPasswordPolicyPut, p.AccountID, p.MinimumPasswordLength, p.RequireSymbols, p.RequireNumbers,
		p.RequireUppercaseCharacters, p.RequireLowercaseCharacters, p.AllowUsersToChangePassword,
		p.MaxPasswordAge, p.PasswordReusePrevention, hard)
	return mapErr(err, "sqlite: put password policy of %q", p.AccountID)
}

// DeletePasswordPolicy deletes the account's password policy; ErrNotFound
// when it has none.
func (t *tx) DeletePasswordPolicy(accountID string) error {
	return t.execOne(fmt.Sprintf("sqlite: delete password policy of %q", accountID), sqlPasswordPolicyDelete, accountID)
}
