package eks

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/podid/podid/internal/ids"
	"github.com/podid/podid/internal/store"
)

// The one add-on podid supports.
const (
	// AgentAddonName is the name of the pod identity agent add-on.
	AgentAddonName = "eks-pod-identity-agent"
	// AgentNamespace is the namespace the agent is installed in.
	AgentNamespace = "kube-system"
	// DefaultAgentVersion is the version CreateAddon installs when none is
	// given: the version the eks-workshop transcript shows.
	DefaultAgentVersion = "v1.1.0-eksbuild.1"
)

// agentVersions are the versions DescribeAddonVersions lists, newest first.
var agentVersions = []string{"v1.3.10-eksbuild.2", "v1.3.8-eksbuild.2", "v1.3.4-eksbuild.1", "v1.2.0-eksbuild.1", DefaultAgentVersion}

// clusterVersions are the Kubernetes versions the agent add-on supports.
var clusterVersions = []string{"1.34", "1.33", "1.32", "1.31", "1.30", "1.29", "1.28"}

// Add-on statuses.
const (
	AddonCreating     = "CREATING"
	AddonActive       = "ACTIVE"
	AddonCreateFailed = "CREATE_FAILED"
	AddonDeleting     = "DELETING"
	AddonDegraded     = "DEGRADED"
)

// AddonCreateTimeout is how long a new add-on stays CREATING while its
// agent reports issues (pods still starting); after it, issues make the
// add-on DEGRADED, which `aws eks wait addon-active` treats as failure.
const AddonCreateTimeout = 10 * time.Minute

// AddonPodIdentityAssociation is an association CreateAddon/UpdateAddon
// would create for the add-on (not supported for the agent add-on).
type AddonPodIdentityAssociation struct {
	ServiceAccount string `json:"serviceAccount"`
	RoleArn        string `json:"roleArn"`
}

// CreateAddonInput is the input of CreateAddon.
type CreateAddonInput struct {
	ClusterName             string                        `json:"-"`
	AddonName               string                        `json:"addonName"`
	AddonVersion            string                        `json:"addonVersion,omitempty"`
	ServiceAccountRoleArn   string                        `json:"serviceAccountRoleArn,omitempty"`
	ResolveConflicts        string                        `json:"resolveConflicts,omitempty"`
	ClientRequestToken      string                        `json:"clientRequestToken,omitempty"`
	Tags                    map[string]string             `json:"tags,omitempty"`
	ConfigurationValues     string                        `json:"configurationValues,omitempty"`
	PodIdentityAssociations []AddonPodIdentityAssociation `json:"podIdentityAssociations,omitempty"`
	NamespaceConfig         *AddonNamespaceConfig         `json:"namespaceConfig,omitempty"`
}

// AddonOutput is the output of CreateAddon, DescribeAddon and DeleteAddon.
type AddonOutput struct {
	Addon *Addon `json:"addon"`
}

// DescribeAddonInput is the input of DescribeAddon.
type DescribeAddonInput struct {
	ClusterName string
	AddonName   string
}

// DeleteAddonInput is the input of DeleteAddon.
type DeleteAddonInput struct {
	ClusterName string
	AddonName   string
	// Preserve keeps the agent's Kubernetes objects on the cluster.
	Preserve bool
}

// ListAddonsInput is the input of ListAddons.
type ListAddonsInput struct {
	ClusterName string
	MaxResults  *int
	NextToken   string
}

// ListAddonsOutput is the output of ListAddons.
type ListAddonsOutput struct {
	Addons    []string `json:"addons"`
	NextToken string   `json:"nextToken,omitempty"`
}

// UpdateAddonInput is the input of UpdateAddon.
type UpdateAddonInput struct {
	ClusterName             string                        `json:"-"`
	AddonName               string                        `json:"-"`
	AddonVersion            string                        `json:"addonVersion,omitempty"`
	ServiceAccountRoleArn   string                        `json:"serviceAccountRoleArn,omitempty"`
	ResolveConflicts        string                        `json:"resolveConflicts,omitempty"`
	ClientRequestToken      string                        `json:"clientRequestToken,omitempty"`
	ConfigurationValues     *string                       `json:"configurationValues,omitempty"`
	PodIdentityAssociations []AddonPodIdentityAssociation `json:"podIdentityAssociations,omitempty"`
}

// UpdateOutput is the output of UpdateAddon.
type UpdateOutput struct {
	Update *Update `json:"update"`
}

// DescribeAddonVersionsInput is the input of DescribeAddonVersions.
type DescribeAddonVersionsInput struct {
	KubernetesVersion string
	MaxResults        *int
	NextToken         string
	AddonName         string
	Types             []string
	Publishers        []string
	Owners            []string
}

// DescribeAddonVersionsOutput is the output of DescribeAddonVersions.
type DescribeAddonVersionsOutput struct {
	Addons    []AddonInfo `json:"addons"`
	NextToken string      `json:"nextToken,omitempty"`
}

func createAddonScope(cluster string) string { return "eks:CreateAddon/" + cluster }
func updateAddonScope(cluster string) string { return "eks:UpdateAddon/" + cluster }

func addonErr(status int, code, cluster, addon, format string, args ...any) *Error {
	return newErr(status, code, cluster, addon, format, args...)
}

func addonNotFound(cluster, addon string) *Error {
	return addonErr(http.StatusNotFound, CodeNotFound, cluster, addon, "No addon: %s found in cluster: %s", truncate(addon, 100), cluster)
}

// checkAddonName refuses every add-on but the agent.
func checkAddonName(cluster, name string) error {
	if name == "" {
		return addonErr(http.StatusBadRequest, CodeInvalidParameter, cluster, name, "The parameter addonName must not be empty.")
	}
	if name != AgentAddonName {
		return addonErr(http.StatusBadRequest, CodeInvalidParameter, cluster, truncate(name, 100), "Addon %s specified is not supported: podid supports only the %s add-on.", truncate(name, 100), AgentAddonName)
	}
	return nil
}

// checkAddonSettings validates the settings shared by Create and Update.
func (s *Service) checkAddonSettings(cluster, addon, version, saRole, resolve string, config *string, pias []AddonPodIdentityAssociation) error {
	bad := func(format string, args ...any) error {
		return addonErr(http.StatusBadRequest, CodeInvalidParameter, cluster, addon, format, args...)
	}
	if version != "" && !knownVersion(version) {
		return bad("Addon version %s is not supported for %s.", truncate(version, 64), addon)
	}
	if saRole != "" {
		return bad("The %s add-on uses the node role and does not accept serviceAccountRoleArn.", addon)
	}
	switch resolve {
	case "", "OVERWRITE", "NONE", "PRESERVE":
	default:
		return bad("The parameter resolveConflicts must be one of OVERWRITE, NONE, PRESERVE.")
	}
	if config != nil && len(*config) > maxConfigValues {
		return bad("The parameter configurationValues must be at most %d characters long.", maxConfigValues)
	}
	if config != nil && s.cfg.AddonConfig != nil {
		if err := s.cfg.AddonConfig.ValidateConfiguration(*config); err != nil {
			return bad("%s", err.Error())
		}
	}
	if len(pias) > 0 {
		return bad("Pod Identity feature is not supported for addon %s.", addon)
	}
	return nil
}

func knownVersion(v string) bool {
	for _, x := range agentVersions {
		if x == v {
			return true
		}
	}
	return false
}

// CreateAddon installs the eks-pod-identity-agent add-on. The response
// shows status CREATING; DescribeAddon reports ACTIVE once the cluster's
// agent serves it (see Config.AgentProbe). On an external cluster with API
// access, the Config.AgentInstaller hook installs the agent.
func (s *Service) CreateAddon(ctx context.Context, in *CreateAddonInput) (*AddonOutput, error) {
	c := in.ClusterName
	if err := s.authorize(ctx, "eks:CreateAddon", s.clusterARN(c), tagContext(in.Tags)); err != nil {
		return nil, err
	}
	if err := checkAddonName(c, in.AddonName); err != nil {
		return nil, err
	}
	cfgVals := in.ConfigurationValues
	if err := s.checkAddonSettings(c, in.AddonName, in.AddonVersion, in.ServiceAccountRoleArn, in.ResolveConflicts, &cfgVals, in.PodIdentityAssociations); err != nil {
		return nil, err
	}
	if ns := in.NamespaceConfig; ns != nil && ns.Namespace != AgentNamespace {
		return nil, addonErr(http.StatusBadRequest, CodeInvalidParameter, c, in.AddonName, "The %s add-on can only be installed in the %s namespace.", in.AddonName, AgentNamespace)
	}
	if err := checkTags(in.Tags, func(f string, a ...any) *Error {
		return addonErr(http.StatusBadRequest, CodeInvalidParameter, c, in.AddonName, f, a...)
	}); err != nil {
		return nil, err
	}
	if err := checkRequestToken(c, in.ClientRequestToken); err != nil {
		return nil, err
	}
	version := in.AddonVersion
	if version == "" {
		version = DefaultAgentVersion
	}
	now := s.now()
	a := &store.Addon{
		Cluster:             c,
		Name:                in.AddonName,
		ARN:                 s.addonARN(c, in.AddonName, ids.NewUUIDLike()),
		Version:             version,
		Status:              AddonCreating,
		Health:              "[]",
		ConfigurationValues: in.ConfigurationValues,
		Tags:                copyTags(in.Tags),
		CreatedAt:           now,
		ModifiedAt:          now,
	}
	var cluster *store.Cluster
	var result *store.Addon
	err := s.cfg.Store.Update(ctx, func(tx store.Tx) error {
		var err error
		cluster, err = tx.GetCluster(c)
		if err != nil {
			return clusterLookupErr(c, err)
		}
		if in.ClientRequestToken != "" {
			name, err := tx.GetIdempotencyToken(createAddonScope(c), in.ClientRequestToken)
			switch {
			case err == nil && name == in.AddonName:
				prev, err := tx.GetAddon(c, name)
				if err == nil {
					result = prev
					return nil
				}
				if !errors.Is(err, store.ErrNotFound) {
					return internalf("reading add-on: %w", err)
				}
			case err == nil:
				return invalidRequest(c, "The clientRequestToken was already used for a different request.")
			case !errors.Is(err, store.ErrNotFound):
				return internalf("reading client request token: %w", err)
			}
		}
		if err := tx.CreateAddon(a); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return addonErr(http.StatusConflict, CodeInUse, c, a.Name, "Addon already exists.")
			}
			return internalf("creating add-on: %w", err)
		}
		if in.ClientRequestToken != "" {
			if err := tx.PutIdempotencyToken(createAddonScope(c), in.ClientRequestToken, a.Name); err != nil && !errors.Is(err, store.ErrConflict) {
				return internalf("recording client request token: %w", err)
			}
		}
		result = a
		return nil
	})
	if err != nil {
		return nil, storeErr(err)
	}
	if result == a {
		s.install(ctx, cluster, a)
	}
	return &AddonOutput{Addon: addonAPI(result)}, nil
}

// install runs the installer hook for an external cluster podid can reach;
// a failure makes the add-on CREATE_FAILED with the reason in its health.
func (s *Service) install(ctx context.Context, c *store.Cluster, a *store.Addon) {
	if issue, failed := s.runInstaller(ctx, c, a); failed {
		s.setAddonStatus(ctx, a, AddonCreateFailed, []AddonIssue{issue})
	}
}

// runInstaller calls the installer hook for an external cluster podid can
// reach and names a failure as an add-on health issue.
func (s *Service) runInstaller(ctx context.Context, c *store.Cluster, a *store.Addon) (AddonIssue, bool) {
	if s.cfg.AgentInstaller == nil || c.Kind != store.ClusterExternal {
		return AddonIssue{}, false
	}
	access, err := s.clusterAccess(c)
	if err != nil || access == nil {
		if err != nil {
			s.log.ErrorContext(ctx, "reading cluster access", "cluster", c.Name, "err", err)
		}
		return AddonIssue{}, false
	}
	err = s.cfg.AgentInstaller.InstallAgent(ctx, access, a)
	if err == nil {
		return AddonIssue{}, false
	}
	s.log.ErrorContext(ctx, "installing the pod identity agent", "cluster", c.Name, "err", err)
	issue := AddonIssue{Code: "ClusterUnreachable", Message: "podid could not install the agent on the cluster", ResourceIDs: []string{}}
	var ie *InstallError
	if errors.As(err, &ie) {
		issue = ie.Issue
	}
	return issue, true
}

// addonAPI converts a stored add-on to EKS's shape.
func addonAPI(a *store.Addon) *Addon {
	out := &Addon{
		AddonName:           a.Name,
		ClusterName:         a.Cluster,
		Status:              a.Status,
		AddonVersion:        a.Version,
		Health:              AddonHealth{Issues: parseIssues(a.Health)},
		AddonArn:            a.ARN,
		CreatedAt:           ts(a.CreatedAt),
		ModifiedAt:          ts(a.ModifiedAt),
		Tags:                copyTags(a.Tags),
		ConfigurationValues: a.ConfigurationValues,
	}
	return out
}

func parseIssues(s string) []AddonIssue {
	issues := []AddonIssue{}
	if s != "" {
		_ = json.Unmarshal([]byte(s), &issues)
	}
	if issues == nil {
		issues = []AddonIssue{}
	}
	for i := range issues {
		if issues[i].ResourceIDs == nil {
			issues[i].ResourceIDs = []string{}
		}
	}
	return issues
}

func encodeIssues(issues []AddonIssue) string {
	if len(issues) == 0 {
		return "[]"
	}
	b, err := json.Marshal(issues)
	if err != nil {
		return "[]"
	}
	return string(b)
}

// lookupAddon reads an add-on, with EKS's not-found errors.
func lookupAddon(tx store.Tx, cluster, name string) (*store.Addon, error) {
	if _, err := tx.GetCluster(cluster); err != nil {
		return nil, clusterLookupErr(cluster, err)
	}
	a, err := tx.GetAddon(cluster, name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, addonNotFound(cluster, name)
	}
	if err != nil {
		return nil, internalf("reading add-on %s: %w", name, err)
	}
	return a, nil
}

// authorizeAddon authorizes action on an add-on. The add-on's ARN ends in
// a generated suffix, so it is read first; a missing add-on is authorized
// against the ARN pattern of its name.
func (s *Service) authorizeAddon(ctx context.Context, action, cluster, name string) (*store.Addon, error) {
	var a *store.Addon
	lookupErr := s.cfg.Store.View(ctx, func(tx store.Tx) error {
		var err error
		a, err = lookupAddon(tx, cluster, name)
		return err
	})
	arn := s.addonARN(cluster, name, "*")
	if lookupErr == nil {
		arn = a.ARN
	}
	if err := s.authorize(ctx, action, arn, nil); err != nil {
		return nil, err
	}
	if lookupErr != nil {
		return nil, storeErr(lookupErr)
	}
	return a, nil
}

// DescribeAddon returns an add-on. Its status follows the agent: CREATING
// until the cluster's agent serves it, then ACTIVE, or DEGRADED with
// health issues while the agent is unhealthy.
func (s *Service) DescribeAddon(ctx context.Context, in *DescribeAddonInput) (*AddonOutput, error) {
	if !validClusterName(in.ClusterName) {
		return nil, clusterNotFound(in.ClusterName)
	}
	a, err := s.authorizeAddon(ctx, "eks:DescribeAddon", in.ClusterName, in.AddonName)
	if err != nil {
		return nil, err
	}
	s.refreshAddonStatus(ctx, a)
	return &AddonOutput{Addon: addonAPI(a)}, nil
}

// refreshAddonStatus recomputes a live add-on's status from the agent
// probe and stores a change.
func (s *Service) refreshAddonStatus(ctx context.Context, a *store.Addon) {
	switch a.Status {
	case AddonCreating, AddonActive, AddonDegraded:
	default:
		return
	}
	status, issues := AddonActive, []AddonIssue(nil)
	if p := s.cfg.AgentProbe; p != nil {
		access, err := s.ClusterAccess(ctx, a.Cluster)
		if err != nil {
			s.log.ErrorContext(ctx, "reading cluster access", "cluster", a.Cluster, "err", err)
			return
		}
		h, err := p.AgentHealth(ctx, a.Cluster, access)
		if err != nil {
			s.log.ErrorContext(ctx, "probing the pod identity agent", "cluster", a.Cluster, "err", err)
			return
		}
		switch {
		case len(h.Issues) > 0 && a.Status == AddonCreating && s.now().Sub(a.CreatedAt) < AddonCreateTimeout:
			// Still installing: agent pods take a while to become ready.
			status = AddonCreating
		case len(h.Issues) > 0:
			status, issues = AddonDegraded, h.Issues
		case h.Serving:
			status = AddonActive
		case a.Status == AddonCreating:
			status = AddonCreating
		default:
			status = a.Status
		}
	}
	if status == a.Status && encodeIssues(issues) == encodeIssues(parseIssues(a.Health)) {
		return
	}
	s.setAddonStatus(ctx, a, status, issues)
}

// setAddonStatus stores a new status; a is updated in place on success.
func (s *Service) setAddonStatus(ctx context.Context, a *store.Addon, status string, issues []AddonIssue) {
	next := *a
	next.Status = status
	next.Health = encodeIssues(issues)
	next.ModifiedAt = maxTime(s.now(), a.ModifiedAt)
	err := s.cfg.Store.Update(ctx, func(tx store.Tx) error {
		cur, err := tx.GetAddon(a.Cluster, a.Name)
		if err != nil {
			return err
		}
		if cur.ARN != a.ARN {
			return store.ErrNotFound // replaced meanwhile
		}
		next.Tags, next.Version, next.ConfigurationValues = cur.Tags, cur.Version, cur.ConfigurationValues
		return tx.UpdateAddon(&next)
	})
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			s.log.ErrorContext(ctx, "storing add-on status", "cluster", a.Cluster, "addon", a.Name, "err", err)
		}
		a.Status, a.Health = status, next.Health // still show what was computed
		return
	}
	*a = next
}

// DeleteAddon removes an add-on and returns it with status DELETING; the
// next DescribeAddon answers ResourceNotFoundException (what
// `aws eks wait addon-deleted` waits for).
func (s *Service) DeleteAddon(ctx context.Context, in *DeleteAddonInput) (*AddonOutput, error) {
	c := in.ClusterName
	if !validClusterName(c) {
		return nil, clusterNotFound(c)
	}
	if _, err := s.authorizeAddon(ctx, "eks:DeleteAddon", c, in.AddonName); err != nil {
		return nil, err
	}
	var cluster *store.Cluster
	var deleted *store.Addon
	err := s.cfg.Store.Update(ctx, func(tx store.Tx) error {
		a, err := lookupAddon(tx, c, in.AddonName)
		if err != nil {
			return err
		}
		if cluster, err = tx.GetCluster(c); err != nil {
			return clusterLookupErr(c, err)
		}
		if err := tx.DeleteAddon(c, a.Name); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return addonNotFound(c, a.Name)
			}
			return internalf("deleting add-on %s: %w", a.Name, err)
		}
		deleted = a
		return nil
	})
	if err != nil {
		return nil, storeErr(err)
	}
	if !in.Preserve && s.cfg.AgentInstaller != nil && cluster.Kind == store.ClusterExternal {
		if access, err := s.clusterAccess(cluster); err == nil && access != nil {
			if err := s.cfg.AgentInstaller.UninstallAgent(ctx, access, deleted); err != nil {
				s.log.ErrorContext(ctx, "uninstalling the pod identity agent", "cluster", c, "err", err)
			}
		}
	}
	out := addonAPI(deleted)
	out.Status = AddonDeleting
	return &AddonOutput{Addon: out}, nil
}

// ListAddons lists a cluster's add-on names.
func (s *Service) ListAddons(ctx context.Context, in *ListAddonsInput) (*ListAddonsOutput, error) {
	c := in.ClusterName
	if err := s.authorize(ctx, "eks:ListAddons", s.clusterARN(c), nil); err != nil {
		return nil, err
	}
	limit, err := checkMaxResults(c, in.MaxResults)
	if err != nil {
		return nil, err
	}
	after, err := decodePageToken(c, in.NextToken, "addons", c)
	if err != nil {
		return nil, err
	}
	var list []*store.Addon
	err = s.cfg.Store.View(ctx, func(tx store.Tx) error {
		if _, err := tx.GetCluster(c); err != nil {
			return clusterLookupErr(c, err)
		}
		var err error
		list, err = tx.ListAddons(c, store.Page{After: after, Limit: limit + 1})
		if err != nil {
			return internalf("listing add-ons: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, storeErr(err)
	}
	out := &ListAddonsOutput{Addons: make([]string, 0, len(list))}
	if len(list) > limit {
		list = list[:limit]
		out.NextToken = encodePageToken(list[len(list)-1].Name, "addons", c)
	}
	for _, a := range list {
		out.Addons = append(out.Addons, a.Name)
	}
	return out, nil
}

// UpdateAddon changes an add-on's version or configuration values and
// records the update InProgress; DescribeUpdate settles it from the
// add-on's state (Successful once ACTIVE). A failure to re-apply the agent
// podid installed fails the update at once. A retry with the same
// clientRequestToken returns the recorded update.
func (s *Service) UpdateAddon(ctx context.Context, in *UpdateAddonInput) (*UpdateOutput, error) {
	c := in.ClusterName
	if !validClusterName(c) {
		return nil, clusterNotFound(c)
	}
	if _, err := s.authorizeAddon(ctx, "eks:UpdateAddon", c, in.AddonName); err != nil {
		return nil, err
	}
	if err := s.checkAddonSettings(c, in.AddonName, in.AddonVersion, in.ServiceAccountRoleArn, in.ResolveConflicts, in.ConfigurationValues, in.PodIdentityAssociations); err != nil {
		return nil, err
	}
	if err := checkRequestToken(c, in.ClientRequestToken); err != nil {
		return nil, err
	}
	now := s.now()
	up := &Update{ID: ids.NewUUID(), Status: UpdateInProgress, Type: UpdateTypeAddon, Params: []UpdateParam{}, CreatedAt: ts(now), Errors: []ErrorDetail{}}
	var cluster *store.Cluster
	var updated *store.Addon // nil for a retried request
	if in.AddonVersion != "" {
		up.Params = append(up.Params, UpdateParam{Type: "AddonVersion", Value: in.AddonVersion})
	}
	if in.ResolveConflicts != "" {
		up.Params = append(up.Params, UpdateParam{Type: "ResolveConflicts", Value: in.ResolveConflicts})
	}
	if in.ConfigurationValues != nil {
		up.Params = append(up.Params, UpdateParam{Type: "ConfigurationValues", Value: *in.ConfigurationValues})
	}
	err := s.cfg.Store.Update(ctx, func(tx store.Tx) error {
		a, err := lookupAddon(tx, c, in.AddonName)
		if err != nil {
			return err
		}
		if in.ClientRequestToken != "" {
			id, err := tx.GetIdempotencyToken(updateAddonScope(c), in.ClientRequestToken)
			if err == nil {
				// A retry: report the same update as it stands.
				rec, err := tx.GetUpdate(c, id)
				if err != nil {
					return internalf("reading update %s: %w", id, err)
				}
				up = updateAPI(rec)
				return nil
			}
			if !errors.Is(err, store.ErrNotFound) {
				return internalf("reading client request token: %w", err)
			}
		}
		next := *a
		if in.AddonVersion != "" {
			next.Version = in.AddonVersion
		}
		if in.ConfigurationValues != nil {
			next.ConfigurationValues = *in.ConfigurationValues
		}
		next.ModifiedAt = maxTime(now, a.ModifiedAt)
		if err := tx.UpdateAddon(&next); err != nil {
			return internalf("updating add-on: %w", err)
		}
		if cluster, err = tx.GetCluster(c); err != nil {
			return clusterLookupErr(c, err)
		}
		updated = &next
		if err := tx.PutUpdate(updateRecord(c, a.Name, up)); err != nil {
			return internalf("recording update: %w", err)
		}
		if in.ClientRequestToken != "" {
			if err := tx.PutIdempotencyToken(updateAddonScope(c), in.ClientRequestToken, up.ID); err != nil {
				return internalf("recording client request token: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, storeErr(err)
	}
	if updated != nil && (in.ConfigurationValues != nil || in.AddonVersion != "") {
		// The agent podid installed takes the new settings at once. A
		// failure fails the update; the add-on's status keeps following
		// the agent that runs.
		if issue, failed := s.runInstaller(ctx, cluster, updated); failed {
			up.Status = UpdateFailed
			up.Errors = []ErrorDetail{{ErrorCode: issue.Code, ErrorMessage: issue.Message, ResourceIDs: issue.ResourceIDs}}
			err := s.cfg.Store.Update(ctx, func(tx store.Tx) error { return tx.PutUpdate(updateRecord(c, updated.Name, up)) })
			if err != nil {
				return nil, storeErr(internalf("recording the failed update: %w", err))
			}
		}
	}
	return &UpdateOutput{Update: up}, nil
}

// DescribeAddonConfigurationInput is the input of DescribeAddonConfiguration.
type DescribeAddonConfigurationInput struct {
	AddonName    string
	AddonVersion string
}

// DescribeAddonConfigurationOutput is the output of
// DescribeAddonConfiguration.
type DescribeAddonConfigurationOutput struct {
	AddonName                string   `json:"addonName"`
	AddonVersion             string   `json:"addonVersion"`
	ConfigurationSchema      string   `json:"configurationSchema"`
	PodIdentityConfiguration []string `json:"podIdentityConfiguration"`
}

// emptySchema is the configuration schema when no AddonConfig is set.
const emptySchema = `{"$schema":"http://json-schema.org/draft-07/schema#","type":"object"}`

// DescribeAddonConfiguration returns the JSON schema of the agent add-on's
// configurationValues.
func (s *Service) DescribeAddonConfiguration(ctx context.Context, in *DescribeAddonConfigurationInput) (*DescribeAddonConfigurationOutput, error) {
	if err := s.authorize(ctx, "eks:DescribeAddonConfiguration", "*", nil); err != nil {
		return nil, err
	}
	if err := checkAddonName("", in.AddonName); err != nil {
		return nil, err
	}
	if in.AddonVersion == "" {
		return nil, addonErr(http.StatusBadRequest, CodeInvalidParameter, "", in.AddonName, "The parameter addonVersion must not be empty.")
	}
	if !knownVersion(in.AddonVersion) {
		return nil, addonErr(http.StatusBadRequest, CodeInvalidParameter, "", in.AddonName, "Addon version %s is not supported for %s.", truncate(in.AddonVersion, 64), in.AddonName)
	}
	schema := emptySchema
	if s.cfg.AddonConfig != nil {
		schema = s.cfg.AddonConfig.ConfigurationSchema()
	}
	return &DescribeAddonConfigurationOutput{AddonName: in.AddonName, AddonVersion: in.AddonVersion, ConfigurationSchema: schema, PodIdentityConfiguration: []string{}}, nil
}

// DescribeAddonVersions lists the versions of the agent add-on, filtered
// as EKS filters them. Other add-on names list nothing.
func (s *Service) DescribeAddonVersions(ctx context.Context, in *DescribeAddonVersionsInput) (*DescribeAddonVersionsOutput, error) {
	if err := s.authorize(ctx, "eks:DescribeAddonVersions", "*", nil); err != nil {
		return nil, err
	}
	if _, err := checkMaxResults("", in.MaxResults); err != nil {
		return nil, err
	}
	if _, err := decodePageToken("", in.NextToken, "addonversions"); err != nil {
		return nil, err
	}
	out := &DescribeAddonVersionsOutput{Addons: []AddonInfo{}}
	if in.NextToken != "" {
		return out, nil // one add-on: there is never a second page
	}
	match := func(filter []string, v string) bool {
		return len(filter) == 0 || containsFold(filter, v)
	}
	if (in.AddonName != "" && in.AddonName != AgentAddonName) || !match(in.Types, "security") ||
		!match(in.Publishers, "eks") || !match(in.Owners, "aws") {
		return out, nil
	}
	if in.KubernetesVersion != "" && !containsFold(clusterVersions, in.KubernetesVersion) {
		return out, nil
	}
	info := AddonInfo{AddonName: AgentAddonName, Type: "security", Publisher: "eks", Owner: "aws", DefaultNamespace: AgentNamespace}
	for _, v := range agentVersions {
		vi := AddonVersionInfo{AddonVersion: v, Architecture: []string{"amd64", "arm64"}, ComputeTypes: []string{"ec2", "hybrid"}, Compatibilities: []Compatibility{}}
		for _, cv := range clusterVersions {
			if in.KubernetesVersion != "" && cv != in.KubernetesVersion {
				continue
			}
			vi.Compatibilities = append(vi.Compatibilities, Compatibility{ClusterVersion: cv, PlatformVersions: []string{"*"}, DefaultVersion: v == DefaultAgentVersion})
		}
		info.AddonVersions = append(info.AddonVersions, vi)
	}
	out.Addons = append(out.Addons, info)
	return out, nil
}
