package cli

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	"github.com/spf13/cobra"

	"github.com/podid/podid/internal/broker"
	"github.com/podid/podid/internal/explain"
	"github.com/podid/podid/internal/ids"
	"github.com/podid/podid/internal/local"
	"github.com/podid/podid/internal/podidclient"
)

// ExitError carries an exit status for podid to exit with: the status of
// the command `podid exec` ran, or of a command it could not start. Err
// is nil when the command itself reported its failure; then there is
// nothing more to print.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return ""
	}
	return e.Err.Error()
}

// Unwrap returns the underlying error.
func (e *ExitError) Unwrap() error { return e.Err }

// ExitCode is the status podid exits with.
func (e *ExitError) ExitCode() int { return e.Code }

// execOptions are `podid exec`'s flags.
type execOptions struct {
	dataDir         string
	namespace       string
	serviceAccount  string
	pod             string
	cluster         string
	node            string
	tokenExpiration time.Duration
	tokenRefresh    time.Duration
	env             []string
}

func newExecCommand() *cobra.Command {
	var o execOptions
	cmd := &cobra.Command{
		Use:   "exec --namespace NS --service-account SA [--pod NAME] [--cluster C] [--env KEY=VALUE]... -- COMMAND [ARG...]",
		Short: "Run a command the way a pod of a service account runs, with credentials from podid dev",
		Long: `Run COMMAND with the environment a pod of the service account gets on EKS with
Pod Identity: a pod-bound token minted by the podid-hosted cluster in a token file
(AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE, renewed as the kubelet renews it),
AWS_CONTAINER_CREDENTIALS_FULL_URI pointing at podid dev's agent, the region, and
AWS_ENDPOINT_URL pointing at podid. Every other AWS_ variable of the caller is
removed; --env KEY=VALUE sets one of your own, last (e.g.
AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:8090 for podid dev's gateway).
Without a Pod Identity association for the service account, or with a role
pods may not assume, exec fails before running COMMAND and says what is
missing. exec exits with COMMAND's status.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runExec(cmd.Context(), cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr(), &o, args)
		},
	}
	f := cmd.Flags()
	// Flags after COMMAND belong to it.
	f.SetInterspersed(false)
	f.StringVarP(&o.namespace, "namespace", "n", "", "the pod's namespace (required)")
	f.StringVarP(&o.serviceAccount, "service-account", "s", "", "the pod's service account (required)")
	f.StringVar(&o.pod, "pod", "", "the pod's name (default SERVICE-ACCOUNT-xxxxx, random)")
	f.StringVar(&o.cluster, "cluster", "", "the podid-hosted cluster (default: podid dev's first --cluster)")
	f.StringVar(&o.node, "node", local.DefaultNodeName, "the node name in the token")
	defaultDir, _ := local.DefaultDataDir(os.Getenv)
	f.StringVar(&o.dataDir, "data-dir", defaultDir, "data directory of the podid dev to use (default $"+local.DataDirEnv+", else under the user's cache directory)")
	f.DurationVar(&o.tokenExpiration, "token-expiration", 24*time.Hour, "lifetime of the pod's tokens (10m to 48h; EKS projects 24h)")
	f.StringArrayVar(&o.env, "env", nil, "set KEY=VALUE in COMMAND's environment after the pod's variables, replacing one of the same name (repeatable)")
	f.DurationVar(&o.tokenRefresh, "token-refresh", 0, "replace the token this often (default: at 80% of its lifetime, as the kubelet does)")
	_ = cmd.MarkFlagRequired("namespace")
	_ = cmd.MarkFlagRequired("service-account")
	return cmd
}

func runExec(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer, o *execOptions, args []string) error {
	if o.dataDir == "" {
		return errors.New("no data directory: give --data-dir")
	}
	if o.tokenRefresh < 0 {
		return errors.New("--token-refresh must not be negative")
	}
	if err := local.CheckExtraEnv(o.env); err != nil {
		return fmt.Errorf("--env: %w", err)
	}
	st, err := local.ReadState(o.dataDir)
	if err != nil {
		return err
	}
	cl, err := st.Cluster(o.cluster)
	if err != nil {
		return err
	}
	pod := local.Pod{
		Cluster: cl.Name, Namespace: o.namespace, ServiceAccount: o.serviceAccount,
		Name: o.pod, UID: ids.NewUUID(), Node: o.node,
	}
	if pod.Name == "" {
		pod.Name = o.serviceAccount + "-" + podSuffix()
	}
	// The renewal goroutine and the command may both write to stderr.
	if _, isFile := stderr.(*os.File); !isFile {
		stderr = &lockedWriter{w: stderr}
	}
	dir, err := os.MkdirTemp("", "podid-exec-")
	if err != nil {
		return fmt.Errorf("token directory: %w", err)
	}
	defer os.RemoveAll(dir)

	root := aws.Credentials{AccessKeyID: st.AccessKeyID, SecretAccessKey: st.SecretAccessKey}
	rot := &local.Rotator{
		Minter: &local.HTTPMinter{Endpoint: st.Endpoint, Region: st.Region, Credentials: root},
		Pod:    pod,
		TTL:    o.tokenExpiration,
		Every:  o.tokenRefresh,
		Path:   filepath.Join(dir, local.TokenFileName),
		OnRefresh: func(_ local.Token, err error) {
			if err != nil {
				fmt.Fprintf(stderr, "podid exec: renewing the token of pod %s/%s failed (retrying): %v\n", pod.Namespace, pod.Name, err)
			}
		},
	}
	first, err := rot.Start(ctx)
	if err != nil {
		var me *local.MintError
		var ue *url.Error
		switch {
		case errors.As(err, &me):
			return fmt.Errorf("cannot mint a token for pod %s/%s of cluster %s: %s: %s", pod.Namespace, pod.Name, pod.Cluster, me.Code, me.Message)
		case errors.As(err, &ue):
			return fmt.Errorf("podid dev (pid %d) at %s does not answer; is it still running? %w", st.PID, st.Endpoint, err)
		}
		return err
	}

	// In broker mode the pod's credentials are AWS's: the command's calls
	// go to AWS (the SDK's own endpoints), not to podid.
	iss := issuerOf(ctx, st, pod.Cluster, stderr)
	endpoint := st.Endpoint
	if iss.BrokerPrincipal != "" {
		endpoint = ""
	}

	// Fail before running the command, the way its SDK would fail.
	client := &http.Client{Timeout: 10 * time.Second}
	if err := local.CheckCredentials(ctx, client, cl.AgentURL, first.Value); err != nil {
		var ae *local.AgentError
		if !errors.As(err, &ae) {
			return err
		}
		var assoc local.Association
		if ae.Code == "AccessDeniedException" {
			assoc = associationOf(ctx, st, pod)
		}
		msg := local.Explain(ae, pod, iss, assoc)
		if iss.BrokerPrincipal == "" {
			// The whole chain, from podid's server (the pod is exec's own,
			// so its name is left out).
			msg += "\nThe whole chain: " + explain.Command(explain.Subject{Cluster: pod.Cluster, Namespace: pod.Namespace, ServiceAccount: pod.ServiceAccount})
		}
		return errors.New(msg)
	}

	c := exec.Command(args[0], args[1:]...)
	c.Env = local.ChildEnv(os.Environ(), local.PodEnv{
		Endpoint: endpoint, Region: st.Region, CredentialsURI: cl.AgentURL, TokenFile: rot.Path, Extra: o.env,
	})
	c.Stdin, c.Stdout, c.Stderr = stdin, stdout, stderr
	if err := c.Start(); err != nil {
		code := 126
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, os.ErrNotExist) {
			code = 127
		}
		return &ExitError{Code: code, Err: err}
	}

	// The terminal sends Ctrl-C to the command itself; signals sent to
	// podid alone are passed on.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	rotCtx, stopRotating := context.WithCancel(context.WithoutCancel(ctx))
	defer stopRotating()
	go rot.Run(rotCtx, first)
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	var waitErr error
wait:
	for {
		select {
		case s := <-sigs:
			_ = c.Process.Signal(s)
		case waitErr = <-done:
			break wait
		}
	}
	stopRotating()
	return exitStatus(c.ProcessState, waitErr)
}

// exitStatus turns the command's end into podid's: 0, its exit status,
// or 128+N when signal N killed it (as shells report it).
func exitStatus(ps *os.ProcessState, waitErr error) error {
	if ps == nil {
		return fmt.Errorf("waiting for the command: %w", waitErr)
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return &ExitError{Code: 128 + int(ws.Signal())}
	}
	if code := ps.ExitCode(); code != 0 {
		return &ExitError{Code: code}
	}
	return nil
}

// issuerOf asks podid which credential issuer serves cluster. When it
// cannot tell (an older server, the broker's AWS identity unknown), it
// says so on stderr and assumes podid's own STS.
func issuerOf(ctx context.Context, st *local.State, cluster string, stderr io.Writer) local.CredentialIssuer {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c := &podidclient.Client{Endpoint: st.Endpoint, Region: st.Region,
		Credentials: staticCredentials(aws.Credentials{AccessKeyID: st.AccessKeyID, SecretAccessKey: st.SecretAccessKey})}
	var info broker.Info
	if err := c.Do(ctx, http.MethodGet, broker.InfoPath+"?cluster="+url.QueryEscape(cluster), nil, &info); err != nil {
		fmt.Fprintf(stderr, "podid exec: cannot tell which credential issuer serves cluster %s (%v); assuming podid's own\n", cluster, err)
		return local.CredentialIssuer{AccountID: st.AccountID}
	}
	if info.CredentialIssuer != broker.IssuerAWSSTS {
		return local.CredentialIssuer{AccountID: st.AccountID}
	}
	return local.CredentialIssuer{AccountID: info.Account, BrokerPrincipal: info.Principal.AWS}
}

// associationOf reads the pod's association from podid (its role, target
// role and externalId name the role that refused); zero when it cannot.
func associationOf(ctx context.Context, st *local.State, pod local.Pod) local.Association {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c := eks.NewFromConfig(aws.Config{
		Region:       st.Region,
		BaseEndpoint: aws.String(st.Endpoint),
		Credentials:  staticCredentials(aws.Credentials{AccessKeyID: st.AccessKeyID, SecretAccessKey: st.SecretAccessKey}),
	})
	l, err := c.ListPodIdentityAssociations(ctx, &eks.ListPodIdentityAssociationsInput{
		ClusterName: aws.String(pod.Cluster), Namespace: aws.String(pod.Namespace), ServiceAccount: aws.String(pod.ServiceAccount),
	})
	if err != nil || len(l.Associations) == 0 {
		return local.Association{}
	}
	d, err := c.DescribePodIdentityAssociation(ctx, &eks.DescribePodIdentityAssociationInput{
		ClusterName: aws.String(pod.Cluster), AssociationId: l.Associations[0].AssociationId,
	})
	if err != nil {
		return local.Association{}
	}
	a := d.Association
	return local.Association{
		ID: aws.ToString(a.AssociationId), RoleARN: aws.ToString(a.RoleArn), TargetRoleARN: aws.ToString(a.TargetRoleArn),
		ExternalID: aws.ToString(a.ExternalId), DisableSessionTags: aws.ToBool(a.DisableSessionTags),
	}
}

// lockedWriter serializes writes to w.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// podSuffix is a random pod-name suffix from the alphabet Kubernetes uses
// for generated names.
func podSuffix() string {
	const alphabet = "bcdfghjklmnpqrstvwxz2456789"
	var b [5]byte
	_, _ = rand.Read(b[:])
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b[:])
}
