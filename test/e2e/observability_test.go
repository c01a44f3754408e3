package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/yaml"

	"github.com/milvus-admission/milvus-admission/internal/cluster"
	"github.com/milvus-admission/milvus-admission/internal/e2etest"
	"github.com/milvus-admission/milvus-admission/internal/shared"
)

// What a platform team sees and the ways out it has (issue 12): decisions
// counted on the HTTPS metrics endpoint, the namespace label that takes a
// namespace out of every check, and a per-namespace rule action in the
// policy. These run against a control plane of their own, with metrics on
// and a policy file, so that no other test moves the counters they read.

const (
	decisionsMetric  = "milvus_admission_decisions_total"
	exemptionsMetric = "milvus_admission_exemptions_total"
	milvusesMetric   = "milvus_admission_milvuses"
	// requestsMetric is controller-runtime's count of admission requests;
	// fallbacksMetric the reviews the webhook's own reader left to
	// controller-runtime's decoding.
	requestsMetric  = "controller_runtime_webhook_requests_total"
	fallbacksMetric = "milvus_admission_review_fallbacks_total"
	// exemptLabel is the label the shipped namespaceSelectors leave out.
	exemptLabel = "milvus-admission.io/exempt"
	// metricsReader is the ClusterRole manifests/metrics.yaml ships for
	// scrapers.
	metricsReader = "milvus-admission-metrics-reader"
)

// denied26 is the denial of 2.5.4 → 2.6.0 (MU-26: 2.6 needs 2.5.16 first).
const denied26 = "2.6 can only be reached from 2.5.16 or later"

// series is one counter of a metric family, by its labels.
type series map[string]string

func (s series) key() string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(s)) {
		fmt.Fprintf(&b, "%s=%q,", k, s[k])
	}
	return b.String()
}

// scrape is one read of the metrics endpoint: every series of the families
// the test follows, by series key.
type scrape map[string]map[string]float64

// value is the counter of family with exactly labels; 0 when it has not
// been counted yet (client_golang exports a series only once it is used).
func (s scrape) value(family string, labels series) float64 { return s[family][labels.key()] }

// total is the sum of every series of family.
func (s scrape) total(family string) float64 {
	var sum float64
	for _, v := range s[family] {
		sum += v
	}
	return sum
}

// observed is a control plane with the webhook's metrics on, a policy
// file, and a token allowed to read the metrics.
type observed struct {
	c     *cluster.Cluster
	token string
}

// startObserved starts a control plane whose webhook serves metrics and
// reads policy (YAML) from a file, and binds a scraper ServiceAccount to
// the metrics-reader ClusterRole that ships.
func startObserved(t *testing.T, policy string) *observed {
	t.Helper()
	file := filepath.Join(t.TempDir(), "policy.yaml")
	require.NoError(t, os.WriteFile(file, []byte(policy), 0o600))
	c, err := cluster.Start(context.Background(), cluster.Options{Metrics: true, WebhookArgs: []string{"--policy", file}})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, c.Stop()) })
	require.True(t, strings.HasPrefix(c.MetricsURL, "https://"), "metrics over HTTPS: %q", c.MetricsURL)

	role := shippedMetricsReader(t)
	require.NoError(t, c.Client.Create(t.Context(), role))
	e2etest.Kubectl(t, c, nil, "create", "namespace", "monitoring")
	e2etest.Kubectl(t, c, nil, "-n", "monitoring", "create", "serviceaccount", "prometheus")
	e2etest.Kubectl(t, c, nil, "create", "clusterrolebinding", "prometheus-milvus-admission-metrics",
		"--clusterrole", role.GetName(), "--serviceaccount", "monitoring:prometheus")
	return &observed{c: c, token: saToken(t, c, "monitoring", "prometheus")}
}

// saToken is a token of the ServiceAccount ns/name from the TokenRequest
// API, as a projected token in Prometheus's pod would be.
func saToken(t *testing.T, c *cluster.Cluster, ns, name string) string {
	t.Helper()
	out, _ := e2etest.Kubectl(t, c, nil, "-n", ns, "create", "token", name, "--duration=1h")
	return strings.TrimSpace(out)
}

// shippedMetricsReader is the ClusterRole of manifests/metrics.yaml, as it
// ships (the chart renders the same one by default).
func shippedMetricsReader(t *testing.T) *unstructured.Unstructured {
	t.Helper()
	path := filepath.Join(cluster.RepoRoot(), "manifests", "metrics.yaml")
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	docs, err := shared.YAMLDocuments(bytes.NewReader(data))
	require.NoError(t, err, path)
	var roles []*unstructured.Unstructured
	for _, doc := range docs {
		u := &unstructured.Unstructured{}
		js, err := yaml.YAMLToJSON(doc)
		require.NoError(t, err, path)
		if string(js) == "null" {
			continue
		}
		require.NoError(t, u.UnmarshalJSON(js), path)
		if u.GetKind() == "ClusterRole" && u.GetName() == metricsReader {
			roles = append(roles, u)
		}
	}
	require.Len(t, roles, 1, "%s holds the ClusterRole %s", path, metricsReader)
	return roles[0]
}

// get reads the metrics endpoint with token ("" for none) and returns the
// HTTP status and body.
func (o *observed) get(t *testing.T, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, o.c.MetricsURL, nil)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	// Verified like a ServiceMonitor's tlsConfig.ca: only the serving
	// certificate from --cert-dir (signed by the harness's CA for
	// 127.0.0.1) passes, not a certificate the metrics server made itself.
	roots := x509.NewCertPool()
	require.True(t, roots.AppendCertsFromPEM(o.c.ServingCA()), "the harness's serving CA")
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
	}}
	resp, err := client.Do(req)
	require.NoError(t, err, "the metrics endpoint presents the webhook's serving certificate")
	defer resp.Body.Close()
	require.NotNil(t, resp.TLS, "the metrics endpoint speaks TLS")
	require.NotEmpty(t, resp.TLS.VerifiedChains, "a chain to the serving CA")
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(body)
}

// scrape reads the families the test follows as the scraper.
func (o *observed) scrape(t *testing.T) scrape {
	t.Helper()
	var code int
	var body string
	// The endpoint starts with the webhook; its first answer may lag readyz.
	require.NoError(t, wait.PollUntilContextTimeout(t.Context(), 200*time.Millisecond, waitTimeout, true, func(context.Context) (bool, error) {
		code, body = o.get(t, o.token)
		return code == http.StatusOK, nil
	}), "the metrics endpoint answers a token bound to the metrics reader: %d %s", code, body)
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(body))
	require.NoError(t, err)
	out := scrape{}
	for _, name := range []string{decisionsMetric, exemptionsMetric, milvusesMetric, requestsMetric, fallbacksMetric} {
		out[name] = map[string]float64{}
		f := families[name]
		if f == nil {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := series{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			out[name][labels.key()] = m.GetCounter().GetValue() + m.GetGauge().GetValue() // one of the two is set
		}
	}
	return out
}

// jump26 is a standalone Milvus at 2.5.4 or 2.6.0: 2.6 needs 2.5.16 first
// (MU-26, deny by default).
func jump26(tag string) []byte {
	return milvusManifest{name: "my-release", image: repo + tag}.yaml()
}

// apply applies manifest in ns as admin.
func (o *observed) apply(ns string, manifest []byte) (stderr string, err error) {
	_, stderr, err = o.c.Kubectl(context.Background(), manifest, "-n", ns, "apply", "-f", "-")
	return stderr, err
}

func (o *observed) storedImage(t *testing.T, ns string) any {
	t.Helper()
	return at(e2etest.GetJSON(t, o.c, ns, "milvus", "my-release"), "spec", "components", "image")
}

// requireDenied26 applies the 2.6.0 jump in ns and checks that MU-26
// denies it and nothing is stored.
func (o *observed) requireDenied26(t *testing.T, ns string) {
	t.Helper()
	stderr, err := o.apply(ns, jump26("v2.6.0"))
	require.Error(t, err, "MU-26 denies 2.5.4 → 2.6.0 in %s", ns)
	assert.Contains(t, stderr, "[MU-26]")
	assert.Contains(t, stderr, denied26)
	assert.Equal(t, repo+"v2.5.4", o.storedImage(t, ns), "nothing stored")
}

func TestDecisionsAndExemptions(t *testing.T) {
	t.Parallel()
	// The namespace the policy lets try 2.6 early: named before the
	// webhook starts, since the policy is read once at start-up.
	staging := e2etest.NamespaceName(t)
	o := startObserved(t, fmt.Sprintf("namespaces:\n  %s:\n    rules:\n      MU-26: warn\n", staging))
	newNS := func(t *testing.T, labels map[string]string) string {
		return e2etest.NewNamespaceNamed(t, o.c, e2etest.NamespaceName(t), labels, nil)
	}
	deniedMU26 := series{"kind": "Milvus", "operation": "UPDATE", "decision": "denied", "rule": "MU-26"}

	// The subtests run one after the other: each reads the counters
	// before and after its own requests.

	t.Run("a denial is counted with its rule, read over HTTPS with a token", func(t *testing.T) {
		ns := newNS(t, nil)
		_, err := o.apply(ns, jump26("v2.5.4"))
		require.NoError(t, err)

		before := o.scrape(t)
		o.requireDenied26(t, ns)
		after := o.scrape(t)
		assert.Equal(t, before.value(decisionsMetric, deniedMU26)+1, after.value(decisionsMetric, deniedMU26),
			"one denial, counted once with rule MU-26")
		// A second denied sync counts again: the counter follows requests.
		o.requireDenied26(t, ns)
		assert.Equal(t, before.value(decisionsMetric, deniedMU26)+2, o.scrape(t).value(decisionsMetric, deniedMU26))

		code, body := o.get(t, "")
		assert.Equal(t, http.StatusUnauthorized, code, "no token: %s", body)
		assert.NotContains(t, body, decisionsMetric)
		e2etest.Kubectl(t, o.c, nil, "-n", "monitoring", "create", "serviceaccount", "stranger")
		code, body = o.get(t, saToken(t, o.c, "monitoring", "stranger"))
		assert.Equal(t, http.StatusForbidden, code, "a token not bound to the metrics reader: %s", body)
		assert.NotContains(t, body, decisionsMetric)
	})

	t.Run("a namespace labelled exempt bypasses the webhooks", func(t *testing.T) {
		exempt := newNS(t, map[string]string{exemptLabel: "true"})
		guarded := newNS(t, nil)

		before := o.scrape(t)
		_, err := o.apply(exempt, jump26("v2.5.4"))
		require.NoError(t, err)
		stderr, err := o.apply(exempt, jump26("v2.6.0"))
		require.NoError(t, err, "not judged in %s: %s", exempt, stderr)
		assert.NotContains(t, stderr, "Warning")
		assert.Equal(t, repo+"v2.6.0", o.storedImage(t, exempt), "stored as applied")
		assert.Equal(t, before, o.scrape(t), "no decision was counted: the API server never called the webhooks")

		_, err = o.apply(guarded, jump26("v2.5.4"))
		require.NoError(t, err)
		before = o.scrape(t)
		o.requireDenied26(t, guarded)
		assert.Equal(t, before.value(decisionsMetric, deniedMU26)+1, o.scrape(t).value(decisionsMetric, deniedMU26))
	})

	t.Run("a per-namespace warn turns the denial into a warning there only", func(t *testing.T) {
		e2etest.NewNamespaceNamed(t, o.c, staging, nil, nil)
		elsewhere := newNS(t, nil)
		for _, ns := range []string{staging, elsewhere} {
			_, err := o.apply(ns, jump26("v2.5.4"))
			require.NoError(t, err)
		}

		before := o.scrape(t)
		stderr, err := o.apply(staging, jump26("v2.6.0"))
		require.NoError(t, err, "MU-26 only warns in %s: %s", staging, stderr)
		assert.Contains(t, stderr, "Warning: [MU-26] spec.components.image: 2.6 needs 2.5.16 first")
		assert.Equal(t, repo+"v2.6.0", o.storedImage(t, staging), "stored")
		after := o.scrape(t)
		warned := series{"kind": "Milvus", "operation": "UPDATE", "decision": "warned", "rule": "MU-26"}
		assert.Equal(t, before.value(decisionsMetric, warned)+1, after.value(decisionsMetric, warned), "counted as warned")
		assert.Equal(t, before.value(decisionsMetric, deniedMU26), after.value(decisionsMetric, deniedMU26), "not as denied")
		exempted := series{"namespace": staging, "rule": "MU-26"}
		assert.Equal(t, before.value(exemptionsMetric, exempted)+1, after.value(exemptionsMetric, exempted), "the exception is counted")

		o.requireDenied26(t, elsewhere)
		assert.Equal(t, after.value(decisionsMetric, deniedMU26)+1, o.scrape(t).value(decisionsMetric, deniedMU26))
	})

	t.Run("a hold in progress shows in the gauge, read from the cache", func(t *testing.T) {
		ns := newNS(t, nil)
		held := series{"state": "held"}
		before := o.scrape(t).value(milvusesMetric, held)
		_, err := o.apply(ns, milvusManifest{name: "my-release", image: repo + "v2.1.4"}.yaml())
		require.NoError(t, err)
		stderr, err := o.apply(ns, milvusManifest{name: "my-release", image: repo + "v2.4.23"}.yaml())
		require.NoError(t, err)
		require.Contains(t, stderr, "[MU-META]", "held")
		e2etest.Eventually(t.Context(), t, waitTimeout, `milvus_admission_milvuses{state="held"} counts the held Milvus once the cache has it`, func() error {
			if got := o.scrape(t).value(milvusesMetric, held); got != before+1 {
				return fmt.Errorf("%v, want %v", got, before+1)
			}
			return nil
		}, func() string { return "webhook log:\n" + o.c.LogTail(20) })
	})

	t.Run("the webhook reads the API server's reviews itself", func(t *testing.T) {
		// After the subtests above: creates, updates, denials, warnings
		// and a hold, each reviewed by both Milvus webhooks, and the
		// MilvusUpgrade the hold generated.
		s := o.scrape(t)
		assert.Greater(t, s.total(requestsMetric), 10.0, "the API server called the webhooks")
		assert.Zero(t, s.total(fallbacksMetric), "every review was read by the webhook's own reader, none by controller-runtime's decoding: %v", s[fallbacksMetric])
	})
}
