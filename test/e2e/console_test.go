package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// toolChromium is Debian's chromium, driven over the DevTools protocol.
var toolChromium = tool{Name: "Chromium (chromium)", Install: installDeps, Missing: lookPath("chromium")}

// consoleShots is where TestConsoleInChromium writes its screenshots
// (PODID_CONSOLE_SCREENSHOTS; a temporary directory when unset).
func consoleShots(t *testing.T) string {
	if d := os.Getenv("PODID_CONSOLE_SCREENSHOTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

// TestConsoleInChromium drives the console in headless Chromium against
// `podid dev`: sign-in with the root key, an association created through
// its form, the pod's credentials appearing in the live feed after
// `podid exec`, the role and "what can it do" pages, a cross-origin
// change refused (CSRF), sign-out ending the session, and a user without
// eks:ListPodIdentityAssociations seeing AccessDenied and no
// association. Each page is saved as a PNG.
func TestConsoleInChromium(t *testing.T) {
	need(t, toolChromium, toolAWSCLI)
	chromium, _ := exec.LookPath("chromium")
	d := startDev(t)
	shots := consoleShots(t)
	root := d.root()
	roleARN := str(d.awsJSON(t, root, "iam", "create-role", "--role-name", "carts", "--assume-role-policy-document", trustPods), "Role", "Arn")
	d.aws(t, root, "iam", "put-role-policy", "--role-name", "carts", "--policy-name", "carts-table",
		"--policy-document", `{"Version":"2012-10-17","Statement":[{"Sid":"CartsTable","Effect":"Allow","Action":["dynamodb:GetItem","dynamodb:PutItem","dynamodb:Query"],"Resource":"arn:aws:dynamodb:us-west-2:123456789012:table/carts*"}]}`)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium), chromedp.NoSandbox,
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1100, 800), chromedp.Flag("disable-dev-shm-usage", true))
	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	tab, cancelTab := chromedp.NewContext(alloc)
	defer cancelTab()
	type step = chromedp.Action[chromedp.Void]
	failAt := func(ctx context.Context, what string, err error) {
		t.Helper()
		loc, _ := chromedp.Run(ctx, chromedp.Location())
		body, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
		t.Fatalf("%s: %v\nat %s:\n%s", what, err, loc, body)
	}
	run := func(ctx context.Context, what string, steps ...step) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			failAt(ctx, what, err)
		}
	}
	// Every page shot is also checked for the basics of accessibility:
	// one h1, a main landmark, a label for every field, a name for every
	// button and link.
	shot := func(ctx context.Context, name string) {
		t.Helper()
		problems, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](a11yCheck))
		if err != nil {
			failAt(ctx, "accessibility check of "+name, err)
		}
		if len(problems) > 0 {
			t.Errorf("page %s: %s", name, strings.Join(problems, "; "))
		}
		png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
		if err != nil {
			failAt(ctx, "screenshot "+name, err)
		}
		if err := os.WriteFile(filepath.Join(shots, name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	text := func(ctx context.Context, sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			failAt(ctx, "read "+sel, err)
		}
		return s
	}
	location := func(ctx context.Context) string {
		t.Helper()
		loc, err := chromedp.Run(ctx, chromedp.Location())
		if err != nil {
			t.Fatal(err)
		}
		return loc
	}
	poll := func(expr string, timeout time.Duration) step {
		return chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingTimeout(timeout))
	}
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	base := d.URL + "/console/"

	// 1. Sign-in: the console sends an anonymous browser to sign in.
	run(tab, "open the console", chromedp.Navigate(base), chromedp.WaitVisible(css("#signin-root")))
	if loc := location(tab); !strings.HasPrefix(loc, base+"signin") {
		t.Fatalf("anonymous browser at %s, want the sign-in page", loc)
	}
	shot(tab, "signin")
	// By keyboard: type the key, Tab to the secret, Enter submits.
	run(tab, "sign in as root",
		chromedp.SendKeys(css("#accessKeyId"), root.Key+"\t"+root.Secret+"\r"), chromedp.WaitVisible(css("#clusters")))
	if got := text(tab, "#clusters tbody"); !strings.Contains(got, "eks-workshop") || !strings.Contains(got, "hosted") || !strings.Contains(got, "ACTIVE") {
		t.Fatalf("clusters table: %q", got)
	}
	shot(tab, "clusters")

	// 2. Create the carts association through the cluster page's form.
	run(tab, "open the cluster", chromedp.Click(css(`#clusters a[href="/console/clusters/eks-workshop"]`)), chromedp.WaitVisible(css("#create-association")),
		chromedp.SendKeys(css("#namespace"), "carts"), chromedp.SendKeys(css("#serviceAccount"), "carts"), chromedp.SendKeys(css("#roleArn"), roleARN),
		chromedp.Submit(css("#create-association")), chromedp.WaitVisible(css("#association")))
	if got := text(tab, "main"); !strings.Contains(got, "Association created.") || !strings.Contains(got, roleARN) {
		t.Fatalf("association page: %q", got)
	}
	assocURL := location(tab)
	shot(tab, "association")
	list := d.awsJSON(t, root, "eks", "list-pod-identity-associations", "--cluster-name", "eks-workshop")
	if got := fmt.Sprint(list["associations"]); !strings.Contains(got, "namespace:carts") || !strings.Contains(got, "serviceAccount:carts") {
		t.Fatalf("the API does not list the console's association: %s", got)
	}
	run(tab, "cluster page", chromedp.Navigate(base+"clusters/eks-workshop"), chromedp.WaitVisible(css("#associations")))
	shot(tab, "cluster")

	// 3. The live feed, in a second tab: the pod's credentials appear
	// after podid exec, without a reload.
	feed, cancelFeed := chromedp.NewContext(tab)
	defer cancelFeed()
	run(feed, "open the feed", chromedp.Navigate(base+"feed?cluster=eks-workshop"), chromedp.WaitVisible(css("#feed")),
		poll(`document.getElementById("feed-status").textContent.startsWith("Live")`, 10*time.Second))
	out, errOut, code := d.exec(t, d.clientEnv(root), time.Minute, "-n", "carts", "-s", "carts", "--", "aws", "sts", "get-caller-identity", "--output", "text", "--query", "Arn")
	if code != 0 || !strings.Contains(out, "assumed-role/carts/") {
		t.Fatalf("podid exec: %d\n%s\n%s", code, out, errOut)
	}
	run(feed, "the issuance appears in the feed", poll(
		`Array.from(document.querySelectorAll("#feed tbody tr.new")).some(r => r.textContent.includes("issued") && r.textContent.includes("carts/carts") && r.textContent.includes("role/carts"))`,
		20*time.Second))
	shot(feed, "feed")

	// 4. The role, and what the carts service account can do.
	run(tab, "role page", chromedp.Navigate(base+"roles/carts"), chromedp.WaitVisible(css("#trust-policy")))
	if got := text(tab, "#role-associations tbody"); !strings.Contains(got, "eks-workshop") || !strings.Contains(got, "carts") {
		t.Fatalf("the role page does not show its association: %q", got)
	}
	shot(tab, "role")
	run(tab, "simulator", chromedp.Navigate(base+"simulate"), chromedp.WaitVisible(css("#simulate-form")),
		chromedp.SendKeys(css("#cluster"), "eks-workshop"), chromedp.SendKeys(css("#namespace"), "carts"), chromedp.SendKeys(css("#serviceAccount"), "carts"),
		chromedp.SendKeys(css("#action"), "dynamodb:GetItem"), chromedp.SendKeys(css("#resource"), "arn:aws:dynamodb:us-west-2:123456789012:table/carts"),
		chromedp.Submit(css("#simulate-form")), chromedp.WaitVisible(css("#decision")))
	if got := text(tab, "#decision"); !strings.Contains(got, "allowed") || !strings.Contains(got, "CartsTable") {
		t.Fatalf("decision: %q", got)
	}
	if _, err := chromedp.Run(tab, chromedp.Evaluate[bool](`document.getElementById("chain-verdict").scrollIntoView(), true`)); err != nil {
		failAt(tab, "scroll to the answer", err)
	}
	shot(tab, "simulate")

	// 5. CSRF: a page on another origin of the same site (so SameSite
	// lets the cookie go) submits a delete without the form token: the
	// console refuses and the association stays. A same-origin fetch
	// without the token is refused too.
	attack := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, `<!doctype html><form id="f" method="post" action="%s"><input name="csrf" value="guess"></form><script>document.getElementById("f").submit()</script>`,
			strings.Replace(assocURL, "?created=1", "", 1)+"/delete")
	}))
	defer attack.Close()
	run(tab, "cross-origin form", chromedp.Navigate(attack.URL), chromedp.WaitVisible(css("#csrf-refused")))
	shot(tab, "csrf-refused")
	run(tab, "back to the console", chromedp.Navigate(base+"clusters"), chromedp.WaitVisible(css("#clusters")))
	status, err := chromedp.Run(tab, chromedp.Evaluate[int](fmt.Sprintf(`fetch(%q, {method: "POST", body: new URLSearchParams({csrf: ""})}).then(r => r.status)`,
		strings.Replace(assocURL, "?created=1", "", 1)+"/delete"), chromedp.EvalAwaitPromise))
	if err != nil {
		failAt(tab, "same-origin fetch without token", err)
	}
	if status != http.StatusForbidden {
		t.Fatalf("fetch without the token: %d, want 403", status)
	}
	list = d.awsJSON(t, root, "eks", "list-pod-identity-associations", "--cluster-name", "eks-workshop")
	if n := len(list["associations"].([]any)); n != 1 {
		t.Fatalf("%d associations after the CSRF attempts, want 1", n)
	}

	// 6. Sign-out ends the session: the feed tab is told, and the
	// console sends the browser to sign in again.
	run(tab, "sign out", chromedp.Click(css(`form.signout button`)), chromedp.WaitVisible(css("#signin-root")))
	run(tab, "signed out", chromedp.Navigate(base+"clusters"), chromedp.WaitVisible(css("#signin-root")))
	if loc := location(tab); !strings.HasPrefix(loc, base+"signin") {
		t.Fatalf("after sign-out the console shows %s", loc)
	}
	run(feed, "the feed ends with the session", poll(`document.getElementById("feed-status").textContent.includes("session ended")`, 15*time.Second))

	// 7. The viewer signs in with a password and sees the cluster but
	// AccessDenied instead of its associations.
	// The viewer: may see clusters, not their associations.
	d.aws(t, root, "iam", "create-user", "--user-name", "viewer")
	d.aws(t, root, "iam", "put-user-policy", "--user-name", "viewer", "--policy-name", "clusters",
		"--policy-document", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["eks:ListClusters","eks:DescribeCluster","eks:DescribeAddon"],"Resource":"*"}]}`)
	const viewerPassword = "Viewer-console-passw0rd!"
	d.aws(t, root, "iam", "create-login-profile", "--user-name", "viewer", "--password", viewerPassword)

	run(tab, "sign in as viewer", chromedp.WaitVisible(css("#signin-user")),
		chromedp.SetValue(css("#account"), "123456789012"), chromedp.SendKeys(css("#userName"), "viewer"), chromedp.SendKeys(css("#password"), viewerPassword),
		chromedp.Submit(css("#signin-user")), chromedp.WaitVisible(css("#clusters")),
		chromedp.Navigate(base+"clusters/eks-workshop"), chromedp.WaitVisible(css("#list-error")))
	got := text(tab, "#list-error")
	if want := "AccessDeniedException: User: arn:aws:iam::123456789012:user/viewer is not authorized to perform: eks:ListPodIdentityAssociations"; !strings.Contains(got, want) {
		t.Fatalf("viewer sees %q, want %q", got, want)
	}
	rows, err := chromedp.Run(tab, chromedp.Evaluate[int](`document.querySelectorAll("#associations tr").length`))
	if err != nil {
		failAt(tab, "count association rows", err)
	}
	if rows != 0 {
		t.Fatalf("the viewer sees %d association rows", rows)
	}
	shot(tab, "denied")

	// 8. The narrow layout (a phone's width).
	run(tab, "narrow", chromedp.EmulateViewport(390, 844), chromedp.Navigate(base+"clusters"), chromedp.WaitVisible(css("#clusters")))
	shot(tab, "clusters-narrow")
	t.Logf("screenshots in %s", shots)
}

// a11yCheck lists a page's accessibility problems (an empty list when
// none): not exactly one h1, no main landmark, a visible field without a
// label, a button or link without a name.
const a11yCheck = `(() => {
  const p = [];
  if (document.querySelectorAll("h1").length !== 1) p.push("not exactly one h1");
  if (!document.querySelector("main")) p.push("no main landmark");
  if (!document.documentElement.lang) p.push("no lang");
  for (const f of document.querySelectorAll("input:not([type=hidden]), select, textarea")) {
    if (!f.labels || f.labels.length === 0) p.push("field " + (f.id || f.name) + " has no label");
  }
  for (const b of document.querySelectorAll("button, a[href]")) {
    if (!b.textContent.trim() && !b.getAttribute("aria-label")) p.push("unnamed " + b.tagName.toLowerCase());
  }
  return p;
})()`
