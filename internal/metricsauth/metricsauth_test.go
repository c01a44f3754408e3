package metricsauth

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/milvus-admission/milvus-admission/internal/cluster"
)

// These tests ask a real kube-apiserver (RBAC on) for the reviews. It is
// started by the first test that needs it, so that the cache and dependency
// tests run without it.

const (
	namespace = "monitoring"
	// scraper is bound to metricsReader, which allows `get` on /metrics.
	scraper      = "scraper"
	metricsRead  = "metricsauth-metrics-reader"
	stranger     = "stranger" // bound to nothing
	tokenChecker = "token-checker"
	// tokenChecker may create TokenReviews but not SubjectAccessReviews.
	tokenReviewer = "metricsauth-token-reviewer"
)

// env is the control plane with its ServiceAccounts and their tokens.
type env struct {
	c      *cluster.Cluster
	tokens map[string]string // by ServiceAccount name
}

var (
	envOnce sync.Once
	shared  *env
	envErr  error
)

// TestMain stops the control plane if a test started it.
func TestMain(m *testing.M) {
	code := m.Run()
	if shared != nil {
		if err := shared.c.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "metricsauth: stopping the control plane:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// controlPlane starts the control plane once and sets it up; a missing
// prerequisite fails the test with how to get it (make kube-binaries).
func controlPlane(t *testing.T) *env {
	t.Helper()
	envOnce.Do(func() {
		var c *cluster.Cluster
		if c, envErr = cluster.StartControlPlane(cluster.ControlPlaneOptions{}); envErr != nil {
			return
		}
		shared = &env{c: c}
		shared.tokens, envErr = setUp(c)
	})
	require.NoError(t, envErr, "starting and setting up the control plane")
	return shared
}

// setUp creates the ServiceAccounts and RBAC, returns a token of each
// ServiceAccount and waits until the API server acts on the new RBAC: a
// denial the filter cached while RBAC propagates would last 30 s.
func setUp(c *cluster.Cluster) (map[string]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	subject := func(sa string) []rbacv1.Subject {
		return []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: namespace, Name: sa}}
	}
	objects := []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}},
		&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: metricsRead},
			Rules: []rbacv1.PolicyRule{{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}}}},
		&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: metricsRead}, Subjects: subject(scraper),
			RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: metricsRead}},
		&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: tokenReviewer},
			Rules: []rbacv1.PolicyRule{{APIGroups: []string{authenticationv1.GroupName}, Resources: []string{"tokenreviews"}, Verbs: []string{"create"}}}},
		&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: tokenReviewer}, Subjects: subject(tokenChecker),
			RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: tokenReviewer}},
	}
	for _, sa := range []string{scraper, stranger, tokenChecker} {
		objects = append(objects, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: sa}})
	}
	for _, obj := range objects {
		if err := c.Client.Create(ctx, obj); err != nil {
			return nil, err
		}
	}
	admin, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		return nil, err
	}
	tokens := map[string]string{}
	for _, sa := range []string{scraper, stranger, tokenChecker} {
		// The TokenRequest API, as a projected token in a scraper's pod.
		req, err := admin.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, sa,
			&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}}, metav1.CreateOptions{})
		if err != nil {
			return nil, fmt.Errorf("token of %s: %w", sa, err)
		}
		tokens[sa] = req.Status.Token
	}
	allowed := func(sa string, attrs authorizationv1.SubjectAccessReviewSpec) wait.ConditionWithContextFunc {
		attrs.User = "system:serviceaccount:" + namespace + ":" + sa
		return func(ctx context.Context) (bool, error) {
			r, err := admin.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{Spec: attrs}, metav1.CreateOptions{})
			return err == nil && r.Status.Allowed, nil
		}
	}
	for what, cond := range map[string]wait.ConditionWithContextFunc{
		"scraper may get /metrics": allowed(scraper, authorizationv1.SubjectAccessReviewSpec{
			NonResourceAttributes: &authorizationv1.NonResourceAttributes{Path: "/metrics", Verb: "get"}}),
		"token-checker may create tokenreviews": allowed(tokenChecker, authorizationv1.SubjectAccessReviewSpec{
			ResourceAttributes: &authorizationv1.ResourceAttributes{Group: authenticationv1.GroupName, Resource: "tokenreviews", Verb: "create"}}),
	} {
		if err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, cond); err != nil {
			return nil, fmt.Errorf("waiting until %s: %w", what, err)
		}
	}
	return tokens, nil
}

// reviewCounter counts the reviews an http.Client sends to the API server.
type reviewCounter struct {
	next                        http.RoundTripper
	tokenReviews, accessReviews atomic.Int64
}

// RoundTrip counts req if it creates a review and sends it on.
func (rc *reviewCounter) RoundTrip(req *http.Request) (*http.Response, error) {
	switch {
	case strings.HasSuffix(req.URL.Path, "/apis/authentication.k8s.io/v1/tokenreviews"):
		rc.tokenReviews.Add(1)
	case strings.HasSuffix(req.URL.Path, "/apis/authorization.k8s.io/v1/subjectaccessreviews"):
		rc.accessReviews.Add(1)
	}
	return rc.next.RoundTrip(req)
}

// counts is (TokenReviews, SubjectAccessReviews) so far.
func (rc *reviewCounter) counts() [2]int64 {
	return [2]int64{rc.tokenReviews.Load(), rc.accessReviews.Load()}
}

// serve runs Filter with the identity of cfg around a handler that answers
// "ok" — only if the token did not reach it — and returns its URL and the
// counter of reviews the filter asked for. Each call has caches of its own.
func serve(t *testing.T, cfg *rest.Config) (string, *reviewCounter) {
	t.Helper()
	httpClient, err := rest.HTTPClientFor(cfg)
	require.NoError(t, err)
	counter := &reviewCounter{next: httpClient.Transport}
	counted := *httpClient
	counted.Transport = counter
	filter, err := Filter(cfg, &counted)
	require.NoError(t, err)
	handler, err := filter(testr.NewWithOptions(t, testr.Options{Verbosity: 4}), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			http.Error(w, "the token reached the metrics handler", http.StatusTeapot)
			return
		}
		_, _ = io.WriteString(w, "ok")
	}))
	require.NoError(t, err)
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	return srv.URL, counter
}

// get sends GET url with the Authorization header auth ("" for none) and
// returns the status and body.
func get(t *testing.T, url, auth string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	require.NoError(t, err)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, strings.TrimSpace(string(body))
}

// What a scraper sees, by the token it sends.
func TestScrape(t *testing.T) {
	e := controlPlane(t)
	url, _ := serve(t, e.c.Config)
	for _, tc := range []struct {
		name, auth string
		code       int
		body       string
	}{
		{"bound to the metrics reader", "Bearer " + e.tokens[scraper], http.StatusOK, "ok"},
		{"scheme in lower case", "bearer " + e.tokens[scraper], http.StatusOK, "ok"},
		{"bound to nothing", "Bearer " + e.tokens[stranger], http.StatusForbidden,
			"Authorization denied for user system:serviceaccount:monitoring:stranger to get /metrics"},
		{"no token", "", http.StatusUnauthorized, "Unauthorized"},
		{"not a token", "Bearer not-a-token", http.StatusUnauthorized, "Unauthorized"},
		{"a token from no issuer", "Bearer " + forged(e.tokens[scraper]), http.StatusUnauthorized, "Unauthorized"},
		{"not a bearer token", "Basic " + e.tokens[scraper], http.StatusUnauthorized, "Unauthorized"},
		{"empty bearer token", "Bearer ", http.StatusUnauthorized, "Unauthorized"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := get(t, url+"/metrics", tc.auth)
			assert.Equal(t, tc.code, code, body)
			assert.Equal(t, tc.body, body)
		})
	}
}

// forged is token with its signature's last characters changed.
func forged(token string) string {
	return token[:len(token)-4] + strings.Map(func(r rune) rune {
		if r == 'A' {
			return 'B'
		}
		return 'A'
	}, token[len(token)-4:])
}

// Answers are reused: a scraper costs the API server two reviews per token
// lifetime in the cache, not two per scrape.
func TestReviewsAreCached(t *testing.T) {
	e := controlPlane(t)
	url, reviews := serve(t, e.c.Config)
	bound, unbound := "Bearer "+e.tokens[scraper], "Bearer "+e.tokens[stranger]
	for _, step := range []struct {
		what, path, auth string
		code             int
		reviews          [2]int64 // (TokenReviews, SubjectAccessReviews) after the step
	}{
		{"first scrape", "/metrics", bound, http.StatusOK, [2]int64{1, 1}},
		{"second scrape", "/metrics", bound, http.StatusOK, [2]int64{1, 1}},
		{"another path: a new SubjectAccessReview only", "/other", bound, http.StatusForbidden, [2]int64{1, 2}},
		{"the denial again", "/other", bound, http.StatusForbidden, [2]int64{1, 2}},
		{"a token bound to nothing", "/metrics", unbound, http.StatusForbidden, [2]int64{2, 3}},
		{"its denial again", "/metrics", unbound, http.StatusForbidden, [2]int64{2, 3}},
		{"a bad token", "/metrics", "Bearer not-a-token", http.StatusUnauthorized, [2]int64{3, 3}},
		{"the bad token again", "/metrics", "Bearer not-a-token", http.StatusUnauthorized, [2]int64{3, 3}},
		{"no token: nothing to review", "/metrics", "", http.StatusUnauthorized, [2]int64{3, 3}},
		{"the first scraper still cached", "/metrics", bound, http.StatusOK, [2]int64{3, 3}},
	} {
		code, body := get(t, url+step.path, step.auth)
		assert.Equal(t, step.code, code, "%s: %s", step.what, body)
		assert.Equal(t, step.reviews, reviews.counts(), "%s: (TokenReviews, SubjectAccessReviews) so far", step.what)
	}
}

// When the API server refuses the filter's own reviews, the scraper gets a
// 500 saying which step failed, as from the original.
func TestReviewFailures(t *testing.T) {
	e := controlPlane(t)
	as := func(sa string) *rest.Config {
		cfg := rest.AnonymousClientConfig(e.c.Config)
		cfg.BearerToken = e.tokens[sa]
		return cfg
	}
	url, _ := serve(t, as(stranger))
	code, body := get(t, url+"/metrics", "Bearer "+e.tokens[scraper])
	assert.Equal(t, http.StatusInternalServerError, code, body)
	assert.Equal(t, "Authentication failed", body)

	url, _ = serve(t, as(tokenChecker))
	code, body = get(t, url+"/metrics", "Bearer "+e.tokens[scraper])
	assert.Equal(t, http.StatusInternalServerError, code, body)
	assert.Equal(t, "Authorization for user system:serviceaccount:monitoring:scraper failed", body)
}
