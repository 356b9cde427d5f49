package postgres

import (
	"fmt"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/podid/podid/internal/store"
)

// ---- Roles ----

const roleCols = `account, id, name, path, arn, assume_role_policy, description, max_session_duration,
	permissions_boundary, tags, created_at, last_used_at, last_used_region`

const (
	sqlRoleInsert = `INSERT INTO roles (` + roleCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	sqlRoleGet    = `SELECT ` + roleCols + ` FROM roles WHERE account = ? AND lower(name) = lower(?::text)`
	sqlRoleGetID  = `SELECT ` + roleCols + ` FROM roles WHERE id = ?`
	sqlRoleUpdate = `UPDATE roles SET assume_role_policy = ?, description = ?, max_session_duration = ?,
	permissions_boundary = ?, tags = ?, last_used_at = ?, last_used_region = ? WHERE account = ? AND lower(name) = lower(?::text)`
	sqlRoleDelete = `DELETE FROM roles WHERE account = ? AND lower(name) = lower(?::text)`
	sqlRoleList   = `SELECT ` + roleCols + ` FROM roles
	WHERE account = ? AND left(path, length(?::text)) = ?::text AND name > ? ORDER BY name LIMIT ?`
)

func scanRole(sc scanner) (*store.Role, error) {
	var r store.Role
	var tags []byte
	var created, lastUsed pgtype.Timestamptz
	if err := sc.Scan(&r.Account, &r.ID, &r.Name, &r.Path, &r.ARN, &r.AssumeRolePolicy, &r.Description, &r.MaxSessionDuration,
		&r.PermissionsBoundary, &tags, &created, &lastUsed, &r.LastUsedRegion); err != nil {
		return nil, err
	}
	var err error
	if r.Tags, err = decTags(tags); err != nil {
		return nil, err
	}
	r.CreatedAt, r.LastUsedAt = decTime(created), decTime(lastUsed)
	return &r, nil
}

// CreateRole inserts r; ErrConflict if its name (in any case) or ID exists.
func (t *tx) CreateRole(r *store.Role) error {
	if r == nil {
		return errNil("create role")
	}
	tags, err := encTags(r.Tags)
	if err != nil {
		return fmt.Errorf("postgres: create role %q: %w", r.Name, err)
	}
	_, err = t.exec(sqlRoleInsert, r.Account, r.ID, r.Name, r.Path, r.ARN, r.AssumeRolePolicy, r.Description, r.MaxSessionDuration,
		r.PermissionsBoundary, tags, encTime(r.CreatedAt), encTime(r.LastUsedAt), r.LastUsedRegion)
	return mapErr(err, "postgres: create role %q", r.Name)
}

// GetRole finds a role of account by name, case-insensitively.
func (t *tx) GetRole(account, name string) (*store.Role, error) {
	r, err := one(t, scanRole, sqlRoleGet, account, name)
	return r, mapErr(err, "postgres: get role %q", name)
}

// GetRoleByID finds a role by its unique ID (AROA…).
func (t *tx) GetRoleByID(id string) (*store.Role, error) {
	r, err := one(t, scanRole, sqlRoleGetID, id)
	return r, mapErr(err, "postgres: get role by id %q", id)
}

// UpdateRole replaces the role's mutable fields (trust policy, description,
// max session duration, permissions boundary, tags, last use); ID, Name,
// Path, ARN and CreatedAt never change.
func (t *tx) UpdateRole(r *store.Role) error {
	if r == nil {
		return errNil("update role")
	}
	tags, err := encTags(r.Tags)
	if err != nil {
		return fmt.Errorf("postgres: update role %q: %w", r.Name, err)
	}
	return t.execOne(fmt.Sprintf("postgres: update role %q", r.Name), sqlRoleUpdate,
		r.AssumeRolePolicy, r.Description, r.MaxSessionDuration, r.PermissionsBoundary, tags,
		encTime(r.LastUsedAt), r.LastUsedRegion, r.Account, r.Name)
}

// DeleteRole deletes a role; ErrConflict while policies are attached to it
// or embedded in it.
func (t *tx) DeleteRole(account, name string) error {
	return t.execOne(fmt.Sprintf("postgres: delete role %q", name), sqlRoleDelete, account, name)
}

// ListRoles lists account's roles whose path starts with pathPrefix, by name.
func (t *tx) ListRoles(account, pathPrefix string, p store.Page) ([]*store.Role, error) {
	rs, err := list(t, scanRole, sqlRoleList, account, pathPrefix, pathPrefix, p.After, limit(p.Limit))
	return rs, mapErr(err, "postgres: list roles")
}

// ---- Users ----

const userCols = `account, id, name, path, arn, permissions_boundary, tags, created_at, login_profile, password_last_used`

const (
	sqlUserInsert = `INSERT INTO users (` + userCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	sqlUserGet    = `SELECT ` + userCols + ` FROM users WHERE account = ? AND lower(name) = lower(?::text)`
	sqlUserUpdate = `UPDATE users SET name = ?, path = ?, arn = ?, permissions_boundary = ?, tags = ?, login_profile = ?, password_last_used = ? WHERE id = ?`
	sqlUserIDOf   = `SELECT id FROM users WHERE account = ? AND lower(name) = lower(?::text)`
	sqlUserDelete = `DELETE FROM users WHERE account = ? AND lower(name) = lower(?::text)`
	sqlUserList   = `SELECT ` + userCols + ` FROM users
	WHERE account = ? AND left(path, length(?::text)) = ?::text AND name > ? ORDER BY name LIMIT ?`
)

func scanUser(sc scanner) (*store.User, error) {
	var u store.User
	var tags, login []byte
	var created, lastUsed pgtype.Timestamptz
	if err := sc.Scan(&u.Account, &u.ID, &u.Name, &u.Path, &u.ARN, &u.PermissionsBoundary, &tags, &created, &login, &lastUsed); err != nil {
		return nil, err
	}
	var err error
	if u.Tags, err = decTags(tags); err != nil {
		return nil, err
	}
	if u.LoginProfile, err = decLoginProfile(login); err != nil {
		return nil, err
	}
	u.CreatedAt, u.PasswordLastUsed = decTime(created), decTime(lastUsed)
	return &u, nil
}

// CreateUser inserts u; ErrConflict if its name (in any case) or ID exists.
func (t *tx) CreateUser(u *store.User) error {
	if u == nil {
		return errNil("create user")
	}
	tags, err := encTags(u.Tags)
	if err != nil {
		return fmt.Errorf("postgres: create user %q: %w", u.Name, err)
	}
	login, err := encLoginProfile(u.LoginProfile)
	if err != nil {
		return fmt.Errorf("postgres: create user %q: %w", u.Name, err)
	}
	_, err = t.exec(sqlUserInsert, u.Account, u.ID, u.Name, u.Path, u.ARN, u.PermissionsBoundary, tags, encTime(u.CreatedAt), login, encTime(u.PasswordLastUsed))
	return mapErr(err, "postgres: create user %q", u.Name)
}

// GetUser finds a user of account by name, case-insensitively.
func (t *tx) GetUser(account, name string) (*store.User, error) {
	u, err := one(t, scanUser, sqlUserGet, account, name)
	return u, mapErr(err, "postgres: get user %q", name)
}

// UpdateUser matches the user by ID (by Name when ID is empty) and replaces
// Name, Path, ARN, PermissionsBoundary, Tags, LoginProfile and PasswordLastUsed, so IAM's UpdateUser can
// rename and move a user; access keys and policies follow. ID and CreatedAt
// never change. Renaming onto a taken name is ErrConflict.
func (t *tx) UpdateUser(u *store.User) error {
	if u == nil {
		return errNil("update user")
	}
	what := fmt.Sprintf("postgres: update user %q", u.Name)
	id := u.ID
	if id == "" {
		r, err := t.row(sqlUserIDOf, u.Account, u.Name)
		if err == nil {
			err = r.Scan(&id)
		}
		if err != nil {
			return mapErr(err, "%s", what)
		}
	}
	tags, err := encTags(u.Tags)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	login, err := encLoginProfile(u.LoginProfile)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return t.execOne(what, sqlUserUpdate, u.Name, u.Path, u.ARN, u.PermissionsBoundary, tags, login, encTime(u.PasswordLastUsed), id)
}

// DeleteUser deletes a user; ErrConflict while it has access keys or
// policies.
func (t *tx) DeleteUser(account, name string) error {
	return t.execOne(fmt.Sprintf("postgres: delete user %q", name), sqlUserDelete, account, name)
}

// ListUsers lists account's users whose path starts with pathPrefix, by name.
func (t *tx) ListUsers(account, pathPrefix string, p store.Page) ([]*store.User, error) {
	us, err := list(t, scanUser, sqlUserList, account, pathPrefix, pathPrefix, p.After, limit(p.Limit))
	return us, mapErr(err, "postgres: list users")
}

// ---- Managed policies and versions ----

const policyCols = `account, id, arn, name, path, default_version_id, description, tags, created_at, updated_at`

const (
	sqlPolicyInsert = `INSERT INTO policies (` + policyCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	sqlPolicyGet    = `SELECT ` + policyCols + ` FROM policies WHERE arn = ?`
	sqlPolicyPK     = `SELECT pk FROM policies WHERE arn = ?`
	sqlPolicyUpdate = `UPDATE policies SET default_version_id = ?, description = ?, tags = ?, updated_at = ? WHERE arn = ?`
	sqlPolicyDelete = `DELETE FROM policies WHERE arn = ?`
	sqlPolicyList   = `SELECT ` + policyCols + ` FROM policies
	WHERE account = ? AND left(path, length(?::text)) = ?::text AND arn > ? ORDER BY arn LIMIT ?`

	sqlVersionPut = `INSERT INTO policy_versions (policy_pk, version_id, document, is_default, created_at)
	SELECT pk, ?, ?, ?, ? FROM policies WHERE arn = ?
	ON CONFLICT (policy_pk, version_id) DO UPDATE SET
		document = excluded.document, is_default = excluded.is_default, created_at = excluded.created_at`
	sqlVersionGet = `SELECT p.arn, v.version_id, v.document, v.is_default, v.created_at
	FROM policy_versions v JOIN policies p ON p.pk = v.policy_pk WHERE p.arn = ? AND v.version_id = ?`
	sqlVersionList = `SELECT ?::text, version_id, document, is_default, created_at FROM policy_versions
	WHERE policy_pk = ? ORDER BY created_at DESC NULLS LAST, length(version_id) DESC, version_id DESC`
	sqlVersionDelete = `DELETE FROM policy_versions
	WHERE policy_pk = (SELECT pk FROM policies WHERE arn = ?) AND version_id = ?`
)

func scanPolicy(sc scanner) (*store.ManagedPolicy, error) {
	var p store.ManagedPolicy
	var tags []byte
	var created, updated pgtype.Timestamptz
	if err := sc.Scan(&p.Account, &p.ID, &p.ARN, &p.Name, &p.Path, &p.DefaultVersionID, &p.Description, &tags, &created, &updated); err != nil {
		return nil, err
	}
	var err error
	if p.Tags, err = decTags(tags); err != nil {
		return nil, err
	}
	p.CreatedAt, p.UpdatedAt = decTime(created), decTime(updated)
	return &p, nil
}

func scanVersion(sc scanner) (*store.PolicyVersion, error) {
	var v store.PolicyVersion
	var created pgtype.Timestamptz
	if err := sc.Scan(&v.PolicyARN, &v.VersionID, &v.Document, &v.IsDefault, &created); err != nil {
		return nil, err
	}
	v.CreatedAt = decTime(created)
	return &v, nil
}

// CreatePolicy inserts p; ErrConflict if its ARN, ID or name (in any case,
// under any path) exists.
func (t *tx) CreatePolicy(p *store.ManagedPolicy) error {
	if p == nil {
		return errNil("create policy")
	}
	tags, err := encTags(p.Tags)
	if err != nil {
		return fmt.Errorf("postgres: create policy %q: %w", p.ARN, err)
	}
	_, err = t.exec(sqlPolicyInsert, p.Account, p.ID, p.ARN, p.Name, p.Path, p.DefaultVersionID, p.Description, tags,
		encTime(p.CreatedAt), encTime(p.UpdatedAt))
	return mapErr(err, "postgres: create policy %q", p.ARN)
}

// GetPolicy finds a managed policy by ARN.
func (t *tx) GetPolicy(arn string) (*store.ManagedPolicy, error) {
	p, err := one(t, scanPolicy, sqlPolicyGet, arn)
	return p, mapErr(err, "postgres: get policy %q", arn)
}

// UpdatePolicy replaces DefaultVersionID, Description, Tags and UpdatedAt.
func (t *tx) UpdatePolicy(p *store.ManagedPolicy) error {
	if p == nil {
		return errNil("update policy")
	}
	tags, err := encTags(p.Tags)
	if err != nil {
		return fmt.Errorf("postgres: update policy %q: %w", p.ARN, err)
	}
	return t.execOne(fmt.Sprintf("postgres: update policy %q", p.ARN), sqlPolicyUpdate,
		p.DefaultVersionID, p.Description, tags, encTime(p.UpdatedAt), p.ARN)
}

// DeletePolicy deletes a managed policy and its versions. Attachments are not
// checked (see CountPolicyAttachments).
func (t *tx) DeletePolicy(arn string) error {
	return t.execOne(fmt.Sprintf("postgres: delete policy %q", arn), sqlPolicyDelete, arn)
}

// ListPolicies lists account's managed policies whose path starts with
// pathPrefix, by ARN.
func (t *tx) ListPolicies(account, pathPrefix string, p store.Page) ([]*store.ManagedPolicy, error) {
	ps, err := list(t, scanPolicy, sqlPolicyList, account, pathPrefix, pathPrefix, p.After, limit(p.Limit))
	return ps, mapErr(err, "postgres: list policies")
}

// PutPolicyVersion inserts or replaces a version; ErrNotFound if the policy
// does not exist.
func (t *tx) PutPolicyVersion(v *store.PolicyVersion) error {
	if v == nil {
		return errNil("put policy version")
	}
	return t.execOne(fmt.Sprintf("postgres: put policy version %q %q", v.PolicyARN, v.VersionID), sqlVersionPut,
		v.VersionID, v.Document, v.IsDefault, encTime(v.CreatedAt), v.PolicyARN)
}

// GetPolicyVersion finds one version of a policy.
func (t *tx) GetPolicyVersion(policyARN, versionID string) (*store.PolicyVersion, error) {
	v, err := one(t, scanVersion, sqlVersionGet, policyARN, versionID)
	return v, mapErr(err, "postgres: get policy version %q %q", policyARN, versionID)
}

// ListPolicyVersions lists a policy's versions, newest first; ErrNotFound if
// the policy does not exist.
func (t *tx) ListPolicyVersions(policyARN string) ([]*store.PolicyVersion, error) {
	var pk int64
	r, err := t.row(sqlPolicyPK, policyARN)
	if err == nil {
		err = r.Scan(&pk)
	}
	if err != nil {
		return nil, mapErr(err, "postgres: list policy versions %q", policyARN)
	}
	vs, err := list(t, scanVersion, sqlVersionList, policyARN, pk)
	return vs, mapErr(err, "postgres: list policy versions %q", policyARN)
}

// DeletePolicyVersion deletes one version of a policy.
func (t *tx) DeletePolicyVersion(policyARN, versionID string) error {
	return t.execOne(fmt.Sprintf("postgres: delete policy version %q %q", policyARN, versionID), sqlVersionDelete,
		policyARN, versionID)
}

// ---- Attachments and inline policies ----

// kindSQL holds the statements that differ between roles and users.
type kindSQL struct {
	what         string
	principal    string
	attach       string
	detach       string
	listAttached string
	putInline    string
	getInline    string
	listInline   string
	deleteInline string
}

func principalKinds() map[store.PrincipalKind]*kindSQL {
	mk := func(what, table, attachments, inline, col string) *kindSQL {
		return &kindSQL{
			what:      what,
			principal: `SELECT pk, name FROM ` + table + ` WHERE account = ? AND lower(name) = lower(?::text)`,
			attach:    `INSERT INTO ` + attachments + ` (` + col + `, policy_arn) VALUES (?, ?)`,
			detach:    `DELETE FROM ` + attachments + ` WHERE ` + col + ` = ? AND policy_arn = ?`,
			listAttached: `SELECT policy_arn FROM ` + attachments + ` WHERE ` + col + ` = ? AND policy_arn > ?
	ORDER BY policy_arn LIMIT ?`,
			putInline: `INSERT INTO ` + inline + ` (` + col + `, policy_name, document) VALUES (?, ?, ?)
	ON CONFLICT (` + col + `, policy_name) DO UPDATE SET document = excluded.document`,
			getInline:    `SELECT policy_name, document FROM ` + inline + ` WHERE ` + col + ` = ? AND policy_name = ?`,
			listInline:   `SELECT policy_name, document FROM ` + inline + ` WHERE ` + col + ` = ? AND policy_name > ? ORDER BY policy_name LIMIT ?`,
			deleteInline: `DELETE FROM ` + inline + ` WHERE ` + col + ` = ? AND policy_name = ?`,
		}
	}
	return map[store.PrincipalKind]*kindSQL{
		store.KindRole: mk("role", "roles", "role_policy_attachments", "role_inline_policies", "role_pk"),
		store.KindUser: mk("user", "users", "user_policy_attachments", "user_inline_policies", "user_pk"),
	}
}

// principal resolves a role or user name (case-insensitively) to its
// surrogate key and stored name.
func (t *tx) principal(kind store.PrincipalKind, account, name string) (*kindSQL, int64, string, error) {
	k, ok := t.s.kinds[kind]
	if !ok {
		return nil, 0, "", fmt.Errorf("postgres: unknown principal kind %q", kind)
	}
	var pk int64
	var stored string
	r, err := t.row(k.principal, account, name)
	if err == nil {
		err = r.Scan(&pk, &stored)
	}
	if err != nil {
		return nil, 0, "", mapErr(err, "postgres: %s %q", k.what, name)
	}
	return k, pk, stored, nil
}

// AttachPolicy attaches a managed policy (stored or AWS managed) to a role or
// user; ErrNotFound if the principal does not exist, ErrConflict if attached.
func (t *tx) AttachPolicy(kind store.PrincipalKind, account, principalName, policyARN string) error {
	k, pk, _, err := t.principal(kind, account, principalName)
	if err != nil {
		return err
	}
	_, err = t.exec(k.attach, pk, policyARN)
	return mapErr(err, "postgres: attach %q to %s %q", policyARN, k.what, principalName)
}

// DetachPolicy removes an attachment; ErrNotFound if it does not exist.
func (t *tx) DetachPolicy(kind store.PrincipalKind, account, principalName, policyARN string) error {
	k, pk, _, err := t.principal(kind, account, principalName)
	if err != nil {
		return err
	}
	return t.execOne(fmt.Sprintf("postgres: detach %q from %s %q", policyARN, k.what, principalName), k.detach, pk, policyARN)
}

// ListAttachedPolicies lists the ARNs attached to a principal, by ARN;
// ErrNotFound if the principal does not exist.
func (t *tx) ListAttachedPolicies(kind store.PrincipalKind, account, principalName string, p store.Page) ([]string, error) {
	k, pk, _, err := t.principal(kind, account, principalName)
	if err != nil {
		return nil, err
	}
	arns, err := list(t, scanString, k.listAttached, pk, p.After, limit(p.Limit))
	return arns, mapErr(err, "postgres: list policies attached to %s %q", k.what, principalName)
}

func scanString(sc scanner) (string, error) {
	var s string
	err := sc.Scan(&s)
	return s, err
}

const sqlCountAttachments = `SELECT
	(SELECT count(*) FROM role_policy_attachments WHERE policy_arn = ?) +
	(SELECT count(*) FROM user_policy_attachments WHERE policy_arn = ?)`

// CountPolicyAttachments counts the roles and users policyARN is attached to.
func (t *tx) CountPolicyAttachments(policyARN string) (int, error) {
	var n int
	r, err := t.row(sqlCountAttachments, policyARN, policyARN)
	if err == nil {
		err = r.Scan(&n)
	}
	return n, mapErr(err, "postgres: count attachments of %q", policyARN)
}

// PutInlinePolicy inserts or replaces an inline policy; ErrNotFound if the
// principal does not exist.
func (t *tx) PutInlinePolicy(ip *store.InlinePolicy) error {
	if ip == nil {
		return errNil("put inline policy")
	}
	k, pk, _, err := t.principal(ip.Kind, ip.Account, ip.PrincipalName)
	if err != nil {
		return err
	}
	_, err = t.exec(k.putInline, pk, ip.PolicyName, ip.Document)
	return mapErr(err, "postgres: put inline policy %q of %s %q", ip.PolicyName, k.what, ip.PrincipalName)
}

// GetInlinePolicy finds an inline policy. PrincipalName in the result is the
// principal's stored name.
func (t *tx) GetInlinePolicy(kind store.PrincipalKind, account, principalName, policyName string) (*store.InlinePolicy, error) {
	k, pk, stored, err := t.principal(kind, account, principalName)
	if err != nil {
		return nil, err
	}
	ip, err := one(t, inlineScanner(kind, account, stored), k.getInline, pk, policyName)
	return ip, mapErr(err, "postgres: get inline policy %q of %s %q", policyName, k.what, principalName)
}

// ListInlinePolicies lists a principal's inline policies by name;
// ErrNotFound if the principal does not exist.
func (t *tx) ListInlinePolicies(kind store.PrincipalKind, account, principalName string, p store.Page) ([]*store.InlinePolicy, error) {
	k, pk, stored, err := t.principal(kind, account, principalName)
	if err != nil {
		return nil, err
	}
	ips, err := list(t, inlineScanner(kind, account, stored), k.listInline, pk, p.After, limit(p.Limit))
	return ips, mapErr(err, "postgres: list inline policies of %s %q", k.what, principalName)
}

func inlineScanner(kind store.PrincipalKind, account, principal string) func(scanner) (*store.InlinePolicy, error) {
	return func(sc scanner) (*store.InlinePolicy, error) {
		ip := &store.InlinePolicy{Account: account, Kind: kind, PrincipalName: principal}
		if err := sc.Scan(&ip.PolicyName, &ip.Document); err != nil {
			return nil, err
		}
		return ip, nil
	}
}

// DeleteInlinePolicy deletes an inline policy.
func (t *tx) DeleteInlinePolicy(kind store.PrincipalKind, account, principalName, policyName string) error {
	k, pk, _, err := t.principal(kind, account, principalName)
	if err != nil {
		return err
	}
	return t.execOne(fmt.Sprintf("postgres: delete inline policy %q of %s %q", policyName, k.what, principalName),
		k.deleteInline, pk, policyName)
}

// ---- Access keys ----

const accessKeySelect = `SELECT k.account, k.id, COALESCE(u.name, ''), k.sealed_secret, k.status, k.created_at
	FROM access_keys k LEFT JOIN users u ON u.pk = k.user_pk`

const (
	sqlKeyInsert   = `INSERT INTO access_keys (account, id, user_pk, sealed_secret, status, created_at) VALUES (?, ?, ?, ?, ?, ?)`
	sqlKeyGet      = accessKeySelect + ` WHERE k.id = ?`
	sqlKeyUpdate   = `UPDATE access_keys SET sealed_secret = ?, status = ? WHERE id = ?`
	sqlKeyDelete   = `DELETE FROM access_keys WHERE id = ?`
	sqlKeyListRoot = accessKeySelect + ` WHERE k.account = ? AND k.user_pk IS NULL ORDER BY k.id`
	sqlKeyListUser = accessKeySelect + ` WHERE k.user_pk = ? ORDER BY k.id`
)

func scanKey(sc scanner) (*store.AccessKey, error) {
	var k store.AccessKey
	var created pgtype.Timestamptz
	if err := sc.Scan(&k.Account, &k.ID, &k.UserName, &k.SealedSecret, &k.Status, &created); err != nil {
		return nil, err
	}
	k.CreatedAt = decTime(created)
	return &k, nil
}

// CreateAccessKey inserts k; ErrNotFound if its user does not exist,
// ErrConflict if the ID exists.
func (t *tx) CreateAccessKey(k *store.AccessKey) error {
	if k == nil {
		return errNil("create access key")
	}
	var user any // NULL for the account root
	if k.UserName != "" {
		_, pk, _, err := t.principal(store.KindUser, k.Account, k.UserName)
		if err != nil {
			return err
		}
		user = pk
	}
	_, err := t.exec(sqlKeyInsert, k.Account, k.ID, user, blob(k.SealedSecret), k.Status, encTime(k.CreatedAt))
	return mapErr(err, "postgres: create access key %q", k.ID)
}

// GetAccessKey finds an access key by ID. UserName is the user's stored name.
func (t *tx) GetAccessKey(id string) (*store.AccessKey, error) {
	k, err := one(t, scanKey, sqlKeyGet, id)
	return k, mapErr(err, "postgres: get access key %q", id)
}

// UpdateAccessKey replaces Status and SealedSecret (re-sealing); the owner
// and CreatedAt never change.
func (t *tx) UpdateAccessKey(k *store.AccessKey) error {
	if k == nil {
		return errNil("update access key")
	}
	return t.execOne(fmt.Sprintf("postgres: update access key %q", k.ID), sqlKeyUpdate, blob(k.SealedSecret), k.Status, k.ID)
}

// DeleteAccessKey deletes an access key.
func (t *tx) DeleteAccessKey(id string) error {
	return t.execOne(fmt.Sprintf("postgres: delete access key %q", id), sqlKeyDelete, id)
}

// ListAccessKeys lists the keys of account's user userName (the account
// root's when userName is empty) by ID; ErrNotFound if the user does not
// exist.
func (t *tx) ListAccessKeys(account, userName string) ([]*store.AccessKey, error) {
	if userName == "" {
		ks, err := list(t, scanKey, sqlKeyListRoot, account)
		return ks, mapErr(err, "postgres: list root access keys")
	}
	_, pk, _, err := t.principal(store.KindUser, account, userName)
	if err != nil {
		return nil, err
	}
	ks, err := list(t, scanKey, sqlKeyListUser, pk)
	return ks, mapErr(err, "postgres: list access keys of %q", userName)
}

// ---- OpenID Connect providers ----

const oidcCols = `account, arn, url, client_ids, thumbprints, tags, created_at`

const (
	sqlOIDCInsert = `INSERT INTO oidc_providers (` + oidcCols + `) VALUES (?, ?, ?, ?, ?, ?, ?)`
	sqlOIDCGet    = `SELECT ` + oidcCols + ` FROM oidc_providers WHERE arn = ?`
	sqlOIDCUpdate = `UPDATE oidc_providers SET client_ids = ?, thumbprints = ?, tags = ? WHERE arn = ?`
	sqlOIDCDelete = `DELETE FROM oidc_providers WHERE arn = ?`
	sqlOIDCList   = `SELECT ` + oidcCols + ` FROM oidc_providers WHERE account = ? ORDER BY arn`
)

func scanOIDC(sc scanner) (*store.OIDCProvider, error) {
	var o store.OIDCProvider
	var clients, thumbs, tags []byte
	var created pgtype.Timestamptz
	if err := sc.Scan(&o.Account, &o.ARN, &o.URL, &clients, &thumbs, &tags, &created); err != nil {
		return nil, err
	}
	var err error
	if o.ClientIDs, err = decJSON[string](clients); err != nil {
		return nil, err
	}
	if o.Thumbprints, err = decJSON[string](thumbs); err != nil {
		return nil, err
	}
	if o.Tags, err = decTags(tags); err != nil {
		return nil, err
	}
	o.CreatedAt = decTime(created)
	return &o, nil
}

func encOIDCLists(o *store.OIDCProvider) (clients, thumbs, tags any, err error) {
	if clients, err = encJSON(o.ClientIDs); err != nil {
		return
	}
	if thumbs, err = encJSON(o.Thumbprints); err != nil {
		return
	}
	tags, err = encTags(o.Tags)
	return
}

// CreateOIDCProvider inserts o; ErrConflict if the ARN exists.
func (t *tx) CreateOIDCProvider(o *store.OIDCProvider) error {
	if o == nil {
		return errNil("create OIDC provider")
	}
	clients, thumbs, tags, err := encOIDCLists(o)
	if err != nil {
		return fmt.Errorf("postgres: create OIDC provider %q: %w", o.ARN, err)
	}
	_, err = t.exec(sqlOIDCInsert, o.Account, o.ARN, o.URL, clients, thumbs, tags, encTime(o.CreatedAt))
	return mapErr(err, "postgres: create OIDC provider %q", o.ARN)
}

// GetOIDCProvider finds a provider by ARN.
func (t *tx) GetOIDCProvider(arn string) (*store.OIDCProvider, error) {
	o, err := one(t, scanOIDC, sqlOIDCGet, arn)
	return o, mapErr(err, "postgres: get OIDC provider %q", arn)
}

// UpdateOIDCProvider replaces ClientIDs, Thumbprints and Tags; URL and
// CreatedAt never change.
func (t *tx) UpdateOIDCProvider(o *store.OIDCProvider) error {
	if o == nil {
		return errNil("update OIDC provider")
	}
	clients, thumbs, tags, err := encOIDCLists(o)
	if err != nil {
		return fmt.Errorf("postgres: update OIDC provider %q: %w", o.ARN, err)
	}
	return t.execOne(fmt.Sprintf("postgres: update OIDC provider %q", o.ARN), sqlOIDCUpdate, clients, thumbs, tags, o.ARN)
}

// DeleteOIDCProvider deletes a provider.
func (t *tx) DeleteOIDCProvider(arn string) error {
	return t.execOne(fmt.Sprintf("postgres: delete OIDC provider %q", arn), sqlOIDCDelete, arn)
}

// ListOIDCProviders lists account's providers by ARN.
func (t *tx) ListOIDCProviders(account string) ([]*store.OIDCProvider, error) {
	ps, err := list(t, scanOIDC, sqlOIDCList, account)
	return ps, mapErr(err, "postgres: list OIDC providers")
}

const sqlIAMAccounts = `SELECT account FROM roles UNION SELECT account FROM users
	UNION SELECT account FROM access_keys ORDER BY 1`

// IAMAccounts lists the accounts that have roles, users or access keys.
func (t *tx) IAMAccounts() ([]string, error) {
	as, err := list(t, scanString, sqlIAMAccounts)
	return as, mapErr(err, "postgres: list IAM accounts")
}

// ---- Server keys ----

const (
	sqlServerKeyPut = `INSERT INTO server_keys (id, purpose, sealed, active, created_at) VALUES (?, ?, ?, ?, ?)
	ON CONFLICT (id) DO UPDATE SET purpose = excluded.purpose, sealed = excluded.sealed,
		active = excluded.active, created_at = excluded.created_at`
	sqlServerKeyListAll = `SELECT id, purpose, sealed, active, created_at FROM server_keys ORDER BY id`
	sqlServerKeyList    = `SELECT id, purpose, sealed, active, created_at FROM server_keys WHERE purpose = ? ORDER BY id`
)

func scanServerKey(sc scanner) (*store.ServerKey, error) {
	var k store.ServerKey
	var created pgtype.Timestamptz
	if err := sc.Scan(&k.ID, &k.Purpose, &k.Sealed, &k.Active, &created); err != nil {
		return nil, err
	}
	k.CreatedAt = decTime(created)
	return &k, nil
}

// PutServerKey inserts or replaces a server key by ID.
func (t *tx) PutServerKey(k *store.ServerKey) error {
	if k == nil {
		return errNil("put server key")
	}
	_, err := t.exec(sqlServerKeyPut, k.ID, k.Purpose, blob(k.Sealed), k.Active, encTime(k.CreatedAt))
	return mapErr(err, "postgres: put server key %q", k.ID)
}

// ListServerKeys lists the keys for purpose (every key when purpose is
// empty) by ID.
func (t *tx) ListServerKeys(purpose string) ([]*store.ServerKey, error) {
	var ks []*store.ServerKey
	var err error
	if purpose == "" {
		ks, err = list(t, scanServerKey, sqlServerKeyListAll)
	} else {
		ks, err = list(t, scanServerKey, sqlServerKeyList, purpose)
	}
	return ks, mapErr(err, "postgres: list server keys %q", purpose)
}
