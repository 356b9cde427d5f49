// Package store defines podid's persistence contract: the records podid keeps
// and the one interface every backend (SQLite today, PostgreSQL next)
// implements. Services never see SQL; they run their reads and writes inside a
// transaction obtained from Store.Update or Store.View, so a failed call leaves
// nothing half-written.
//
// Secrets (secret access keys, signing keys) are stored sealed: the store keeps
// opaque ciphertext produced by package secrets and never sees plaintext.
//
// All methods are safe for concurrent use. Backends are verified by the
// conformance suite in package storetest.
package store

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors. Backends wrap them with %w so callers use errors.Is.
var (
	// ErrNotFound is returned when a record does not exist.
	ErrNotFound = errors.New("store: not found")
	// ErrConflict is returned when a write would violate a uniqueness rule
	// (same name, same association key, same ID).
	ErrConflict = errors.New("store: conflict")
)

// Store is the persistence contract shared by all backends.
type Store interface {
	// View runs fn in a read-only transaction.
	View(ctx context.Context, fn func(Tx) error) error
	// Update runs fn in a read-write transaction. If fn returns an error the
	// transaction is rolled back and nothing it wrote remains. Update
	// serializes conflicting writers; a uniqueness violation inside fn is
	// reported as ErrConflict.
	Update(ctx context.Context, fn func(Tx) error) error
	// WaitEvents blocks until an association event with a revision greater
	// than after exists, ctx ends, or the backend's poll interval passes. It
	// is a wake-up hint only; readers then call Tx.ListAssociationEvents.
	WaitEvents(ctx context.Context, after int64) error
	// Close releases the backend's resources.
	Close() error
}

// Page selects a slice of an ordered listing: items strictly after After
// (a sort key returned by a previous call; empty for the first page), at
// most Limit of them (Limit <= 0 means no limit).
type Page struct {
	After string
	Limit int
}

// Tx is the set of operations available inside a transaction. Listing
// methods return items in ascending order of their documented sort key and
// never more than Page.Limit.
type Tx interface {
	// IAM records belong to one account each (their Account field): the
	// IAM namespace of that account. Lookups by name take the account;
	// lookups by ARN or unique ID need none (both name one account).

	// Roles, sorted by Name within an account. Names are unique per
	// account case-insensitively as in IAM; the same name may exist in
	// two accounts.
	CreateRole(r *Role) error
	GetRole(account, name string) (*Role, error)
	GetRoleByID(id string) (*Role, error)
	UpdateRole(r *Role) error // replaces every mutable field, matched by (Account, Name)
	DeleteRole(account, name string) error
	ListRoles(account, pathPrefix string, p Page) ([]*Role, error)

	// Managed policies, sorted by ARN within an account; names are unique
	// per account. AWS managed policies (account "aws" in their ARN) are
	// never stored.
	CreatePolicy(p *ManagedPolicy) error
	GetPolicy(arn string) (*ManagedPolicy, error)
	UpdatePolicy(p *ManagedPolicy) error
	DeletePolicy(arn string) error
	ListPolicies(account, pathPrefix string, p Page) ([]*ManagedPolicy, error)
	PutPolicyVersion(v *PolicyVersion) error // insert or replace by (PolicyARN, VersionID)
	GetPolicyVersion(policyARN, versionID string) (*PolicyVersion, error)
	ListPolicyVersions(policyARN string) ([]*PolicyVersion, error) // sorted by CreatedAt descending (newest first)
	DeletePolicyVersion(policyARN, versionID string) error

	// Attachments of managed policies to roles and users (named within
	// account), sorted by PolicyARN.
	AttachPolicy(kind PrincipalKind, account, principalName, policyARN string) error // ErrConflict if already attached
	DetachPolicy(kind PrincipalKind, account, principalName, policyARN string) error // ErrNotFound if not attached
	ListAttachedPolicies(kind PrincipalKind, account, principalName string, p Page) ([]string, error)
	CountPolicyAttachments(policyARN string) (int, error)

	// Inline policies, sorted by PolicyName. PutInlinePolicy finds the
	// principal by (ip.Account, ip.Kind, ip.PrincipalName).
	PutInlinePolicy(ip *InlinePolicy) error // insert or replace
	GetInlinePolicy(kind PrincipalKind, account, principalName, policyName string) (*InlinePolicy, error)
	ListInlinePolicies(kind PrincipalKind, account, principalName string, p Page) ([]*InlinePolicy, error)
	DeleteInlinePolicy(kind PrincipalKind, account, principalName, policyName string) error

	// Users, sorted by Name within an account; names unique per account.
	CreateUser(u *User) error
	GetUser(account, name string) (*User, error)
	UpdateUser(u *User) error
	DeleteUser(account, name string) error
	ListUsers(account, pathPrefix string, p Page) ([]*User, error)

	// Account password policies (UpdateAccountPasswordPolicy), one per
	// account ID. PutPasswordPolicy inserts or replaces by AccountID;
	// Get and Delete return ErrNotFound when the account has none.
	GetPasswordPolicy(accountID string) (*PasswordPolicy, error)
	PutPasswordPolicy(p *PasswordPolicy) error
	DeletePasswordPolicy(accountID string) error

	// Access keys, sorted by ID (IDs are unique across accounts). UserName
	// is empty for the account root; a user's key has its user's account.
	// ListAccessKeys lists the keys of account's user userName (of the
	// account's root when userName is empty).
	CreateAccessKey(k *AccessKey) error
	GetAccessKey(id string) (*AccessKey, error)
	UpdateAccessKey(k *AccessKey) error
	DeleteAccessKey(id string) error
	ListAccessKeys(account, userName string) ([]*AccessKey, error)

	// OpenID Connect providers, sorted by ARN; ListOIDCProviders lists
	// one account's.
	CreateOIDCProvider(o *OIDCProvider) error
	GetOIDCProvider(arn string) (*OIDCProvider, error)
	UpdateOIDCProvider(o *OIDCProvider) error
	DeleteOIDCProvider(arn string) error
	ListOIDCProviders(account string) ([]*OIDCProvider, error)
	// IAMAccounts lists, sorted, the accounts that have roles, users or
	// access keys ("" included for root keys of a store migrated without
	// a known account).
	IAMAccounts() ([]string, error)

	// Server keys (session-token sealing keys, cluster signing keys), sorted by ID.
	PutServerKey(k *ServerKey) error // insert or replace by ID
	ListServerKeys(purpose string) ([]*ServerKey, error)

	// Clusters, sorted by Name.
	CreateCluster(c *Cluster) error
	GetCluster(name string) (*Cluster, error)
	UpdateCluster(c *Cluster) error
	DeleteCluster(name string) error
	ListClusters(p Page) ([]*Cluster, error)

	// Add-ons, sorted by Name within a cluster.
	CreateAddon(a *Addon) error
	GetAddon(cluster, name string) (*Addon, error)
	UpdateAddon(a *Addon) error
	DeleteAddon(cluster, name string) error
	ListAddons(cluster string, p Page) ([]*Addon, error)

	// EKS update records (UpdateAddon), sorted by ID within a cluster.
	// PutUpdate inserts or replaces by (Cluster, ID); ErrNotFound if the
	// cluster does not exist. Deleting a cluster deletes its updates.
	// ListUpdates lists the updates of one add-on (addon non-empty) or the
	// cluster's own (addon empty).
	PutUpdate(u *UpdateRecord) error
	GetUpdate(cluster, id string) (*UpdateRecord, error)
	ListUpdates(cluster, addon string, p Page) ([]*UpdateRecord, error)

	// Pod identity associations, sorted by ID. CreateAssociation returns
	// ErrConflict when (Cluster, Namespace, ServiceAccount) is taken.
	// Every create, update and delete appends an AssociationEvent in the
	// same transaction.
	CreateAssociation(a *Association) error
	GetAssociation(cluster, id string) (*Association, error)
	FindAssociation(cluster, namespace, serviceAccount string) (*Association, error)
	UpdateAssociation(a *Association) error
	DeleteAssociation(cluster, id string) error
	// ListAssociations filters by namespace and service account when non-empty.
	ListAssociations(cluster, namespace, serviceAccount string, p Page) ([]*Association, error)
	// ListAllAssociations returns every association of every cluster (for
	// building in-memory indexes), sorted by (Cluster, ID).
	ListAllAssociations() ([]*Association, error)

	// Association change feed, in revision order.
	ListAssociationEvents(cluster string, afterRevision int64, limit int) ([]*AssociationEvent, error)
	// LatestRevision is the highest revision of any association event (0 if none).
	LatestRevision() (int64, error)

	// Idempotency tokens: a request token remembered with the resource it
	// created. PutIdempotencyToken returns ErrConflict if scope+token exists.
	PutIdempotencyToken(scope, token, resourceID string) error
	GetIdempotencyToken(scope, token string) (string, error)

	// Audit records, sorted by Time then ID. AppendAudit stores a Count
	// below 1 as 1. AddAuditCount adds n (>= 1) to the Count of record id
	// and moves its LastTime to last when last is later (ErrNotFound if
	// id does not exist): one record then stands for repeated identical
	// events (aggregated refusals).
	AppendAudit(r *AuditRecord) error
	AddAuditCount(id string, n int, last time.Time) error
	ListAudit(since time.Time, limit int) ([]*AuditRecord, error)
	DeleteAuditBefore(t time.Time) (int, error)
}

// PrincipalKind says whether an attachment or inline policy belongs to a role or a user.
type PrincipalKind string

// Principal kinds.
const (
	KindRole PrincipalKind = "role"
	KindUser PrincipalKind = "user"
)

// Tag is an IAM or EKS resource tag.
type Tag struct {
	Key   string `json:"Key"`
	Value string `json:"Value"`
}

// Role is an IAM role.
type Role struct {
	Account             string // the 12-digit account the role belongs to
	ID                  string // AROA…
	Name                string
	Path                string
	ARN                 string
	AssumeRolePolicy    string // the trust policy, byte for byte as submitted
	Description         string
	MaxSessionDuration  int // seconds, 3600..43200
	PermissionsBoundary string
	Tags                []Tag
	CreatedAt           time.Time
	LastUsedAt          time.Time // zero when never used
	LastUsedRegion      string
}

// ManagedPolicy is a customer managed policy.
type ManagedPolicy struct {
	Account          string // the account whose namespace holds the policy
	ID               string // ANPA…
	Name             string
	Path             string
	ARN              string
	DefaultVersionID string
	Description      string
	Tags             []Tag
	CreatedAt        time.Time
	UpdatedAt        time.Time
}

// PolicyVersion is one version of a managed policy.
type PolicyVersion struct {
	PolicyARN string
	VersionID string // v1, v2, …
	Document  string // byte for byte as submitted
	IsDefault bool
	CreatedAt time.Time
}

// InlinePolicy is a policy embedded in a role or user.
type InlinePolicy struct {
	Account       string // the principal's account
	Kind          PrincipalKind
	PrincipalName string
	PolicyName    string
	Document      string
}

// User is an IAM user.
type User struct {
	Account             string // the account the user belongs to
	ID                  string // AIDA…
	Name                string
	Path                string
	ARN                 string
	PermissionsBoundary string
	Tags                []Tag
	CreatedAt           time.Time
	// LoginProfile is the user's console password (CreateLoginProfile);
	// nil when the user has none. CreateUser and UpdateUser store it with
	// the user, so it moves with the user.
	LoginProfile *LoginProfile
	// PasswordLastUsed is the user's last console sign-in (zero when
	// never); it outlives the login profile, as GetUser shows it.
	PasswordLastUsed time.Time
}

// LoginProfile is an IAM user's console password. The password itself is
// never stored: PasswordHash is its memory-hard hash as package password
// encodes it (algorithm, parameters and salt included).
type LoginProfile struct {
	PasswordHash string `json:"h"`
	// CreatedAt is when the profile was created (GetLoginProfile's
	// CreateDate); PasswordSetAt when the current password was set (the
	// password policy's MaxPasswordAge counts from it).
	CreatedAt     time.Time `json:"c"`
	PasswordSetAt time.Time `json:"s"`
	// ResetRequired makes the user set a new password at the next sign-in.
	ResetRequired bool `json:"r,omitempty"`
	// PreviousHashes are the hashes of earlier passwords, newest first
	// (PasswordReusePrevention), at most MaxPasswordHistory of them.
	PreviousHashes []string `json:"p,omitempty"`
}

// MaxPasswordHistory is how many earlier password hashes a LoginProfile
// keeps: IAM's largest PasswordReusePrevention (24) less the current one.
const MaxPasswordHistory = 23

// PasswordPolicy is an account's password policy for IAM users' console
// passwords, field for field as UpdateAccountPasswordPolicy sets it.
type PasswordPolicy struct {
	AccountID                  string
	MinimumPasswordLength      int
	RequireSymbols             bool
	RequireNumbers             bool
	RequireUppercaseCharacters bool
	RequireLowercaseCharacters bool
	AllowUsersToChangePassword bool
	MaxPasswordAge             int   // days; 0: passwords never expire
	PasswordReusePrevention    int   // 0: reuse allowed
	HardExpiry                 *bool // nil when the request left it out
}

// AccessKey is a long-term access key. SealedSecret is the secret access key
// sealed by package secrets.
type AccessKey struct {
	Account      string // the account of the root or user owning the key
	ID           string // AKIA…
	UserName     string // empty for the account root
	SealedSecret []byte
	Status       string // Active or Inactive
	CreatedAt    time.Time
}

// OIDCProvider is an IAM OpenID Connect identity provider.
type OIDCProvider struct {
	Account     string // the account whose IAM holds the provider
	ARN         string
	URL         string // without scheme, as IAM shows it
	ClientIDs   []string
	Thumbprints []string
	Tags        []Tag
	CreatedAt   time.Time
}

// ServerKey is key material the server itself owns, sealed by the master key.
type ServerKey struct {
	ID        string
	Purpose   string // e.g. "session-token", "cluster-signing/NAME"
	Sealed    []byte
	Active    bool // the key new material is produced with
	CreatedAt time.Time
}

// Cluster kinds.
const (
	ClusterHosted   = "hosted"   // podid is the service-account token issuer
	ClusterExternal = "external" // a Kubernetes cluster with its own issuer
)

// Cluster is an EKS cluster as podid knows it.
type Cluster struct {
	Name      string
	ARN       string
	Kind      string // ClusterHosted or ClusterExternal
	Status    string
	Version   string
	RoleARN   string
	IssuerURL string
	// JWKS is an inline key set for external clusters (JSON), empty to
	// fetch it from the issuer's discovery document.
	JWKS string
	// Spec holds the remaining EKS fields as JSON (VPC config, logging,
	// access config, API server endpoint and sealed credentials), shown but
	// not acted on unless a feature needs them.
	Spec      string
	Tags      map[string]string
	CreatedAt time.Time
}

// Addon is an EKS add-on installed on a cluster.
type Addon struct {
	Cluster               string
	Name                  string
	ARN                   string
	Version               string
	Status                string
	Health                string // JSON of health.issues
	ServiceAccountRoleARN string
	ConfigurationValues   string
	Tags                  map[string]string
	CreatedAt             time.Time
	ModifiedAt            time.Time
}

// UpdateRecord is an EKS update: an asynchronous change to a cluster or
// one of its add-ons, as DescribeUpdate shows it.
type UpdateRecord struct {
	Cluster   string
	ID        string // a UUID
	Addon     string // the add-on's name; empty for a cluster update
	Type      string // e.g. AddonUpdate
	Status    string // InProgress, Failed, Cancelled or Successful
	Params    string // JSON array of {type, value}
	Errors    string // JSON array of EKS ErrorDetail
	CreatedAt time.Time
}

// Association is an EKS pod identity association.
type Association struct {
	ID                 string // a- + 17 lowercase alphanumerics
	ARN                string
	Cluster            string
	Namespace          string
	ServiceAccount     string
	RoleARN            string
	TargetRoleARN      string
	ExternalID         string
	DisableSessionTags bool
	Policy             string
	OwnerARN           string
	Tags               map[string]string
	CreatedAt          time.Time
	ModifiedAt         time.Time
}

// Association event types.
const (
	EventCreated = "created"
	EventUpdated = "updated"
	EventDeleted = "deleted"
)

// AssociationEvent is one entry of the association change feed.
type AssociationEvent struct {
	Revision    int64 // strictly increasing across all clusters
	Type        string
	Cluster     string
	Association Association // the state after the change (before it, for deletes)
	Time        time.Time
}

// AuditRecord records one credential issuance or refusal.
type AuditRecord struct {
	ID       string
	Time     time.Time
	Kind     string // e.g. "eks-auth:AssumeRoleForPodIdentity", "sts:AssumeRole"
	Decision string // "issued" or "refused"
	Reason   string
	// Fields holds the rest (cluster, namespace, pod, role, key ID, …) as JSON.
	Fields string
	// Count is how many identical events the record stands for (1 for one
	// event; more when repeated refusals are aggregated). Time is the
	// first one's, LastTime the last one's (zero when Count is 1).
	Count    int
	LastTime time.Time
}
