package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/milvus-admission/milvus-admission/pkg/webhook/webhooktest"
)

// served is what one way of serving a review gave: the request the handler
// got (nil: the handler was not called) and the HTTP answer.
type served struct {
	req    *admission.Request
	status int
	body   string
}

// serve posts body to a webhook whose handler records its request and
// answers from it, served by the reader (own) or by controller-runtime.
// The body is read through limit bytes at most (0: no limit), as
// http.MaxBytesReader reads it.
func serve(t testing.TB, body []byte, contentType string, limit int64, own bool) (served, bool) {
	t.Helper()
	var out served
	hook := &admission.Webhook{Handler: admission.HandlerFunc(func(_ context.Context, req admission.Request) admission.Response {
		out.req = &req
		resp := admission.Allowed(fmt.Sprintf("%s %s/%s by %s", req.Operation, req.Namespace, req.Name, req.UserInfo.Username))
		resp.Warnings = []string{string(req.Object.Raw), string(req.OldObject.Raw), string(req.Options.Raw)}
		return resp
	})}
	var h http.Handler = hook
	fallbacks := prometheus.NewCounter(prometheus.CounterOpts{Name: "fallbacks"})
	if own {
		h = reviewReader{hook: hook, fallbacks: fallbacks}
	}
	r := httptest.NewRequest(http.MethodPost, "/review", bytes.NewReader(body))
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	w := httptest.NewRecorder()
	if limit > 0 {
		r.Body = http.MaxBytesReader(w, r.Body, limit)
	}
	h.ServeHTTP(w, r)
	out.status, out.body = w.Code, w.Body.String()
	return out, own && testutil.ToFloat64(fallbacks) == 0
}

// sameAsControllerRuntime serves body both ways and fails unless the
// handler got the same request and the client the same answer. It reports
// whether the reader took the review itself.
func sameAsControllerRuntime(t testing.TB, body []byte, contentType string) bool {
	t.Helper()
	return sameWithLimit(t, body, contentType, 0)
}

// sameWithLimit is sameAsControllerRuntime with the body read through
// limit bytes at most.
func sameWithLimit(t testing.TB, body []byte, contentType string, limit int64) bool {
	t.Helper()
	want, _ := serve(t, body, contentType, limit, false)
	got, read := serve(t, body, contentType, limit, true)
	if !assert.Equal(t, want.req, got.req, "the request the handler got") ||
		!assert.Equal(t, want.status, got.status) || !assert.Equal(t, want.body, got.body) {
		t.Fatalf("answers differ for %q", body)
	}
	return read
}

func TestReviewReaderAnswersAsControllerRuntime(t *testing.T) {
	update := webhooktest.UpdateReview("tenant-a", "search", "milvusdb/milvus:v2.4.22", "milvusdb/milvus:v2.4.23", "alice")
	const create = `{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{"uid":"8c2e","kind":{"group":"milvus.io","version":"v1beta1","kind":"Milvus"},` +
		`"resource":{"group":"milvus.io","version":"v1beta1","resource":"milvuses"},"requestKind":{"group":"milvus.io","version":"v1beta1","kind":"Milvus"},` +
		`"requestResource":{"group":"milvus.io","version":"v1beta1","resource":"milvuses"},"name":"m","namespace":"t","operation":"CREATE",` +
		`"userInfo":{"username":"system:serviceaccount:flux-system:kustomize-controller","uid":"d0e3","groups":["system:serviceaccounts","system:authenticated"],` +
		`"extra":{"authentication.kubernetes.io/credential-id":["JTI=7f3c"],"authentication.kubernetes.io/pod-name":["kustomize-controller-5d7"]}},` +
		`"object":{"apiVersion":"milvus.io/v1beta1","kind":"Milvus","metadata":{"name":"m","namespace":"t"},"spec":{}},"oldObject":null,"dryRun":true,` +
		`"options":{"kind":"CreateOptions","apiVersion":"meta.k8s.io/v1","dryRun":["All"],"fieldManager":"kustomize-controller"}}}`
	// What the reader takes: the API server's reviews, whitespace, escapes,
	// and the optional fields absent or null.
	for name, body := range map[string]string{
		"update":               string(update),
		"create, dry run":      create,
		"indented":             " \n" + strings.ReplaceAll(create, `,"`, ",\n\t\"") + "\n",
		"escapes":              strings.Replace(create, `"name":"m"`, `"name":"\u006d\/\"é\u00e9"`, 1),
		"a lone surrogate":     strings.Replace(create, `"name":"m"`, `"name":"\ud800"`, 1),
		"delete":               strings.Replace(strings.Replace(create, `"CREATE"`, `"DELETE"`, 1), `"object":{"apiVersion":"milvus.io/v1beta1","kind":"Milvus","metadata":{"name":"m","namespace":"t"},"spec":{}}`, `"object":null`, 1),
		"no optional fields":   `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"1","kind":{},"resource":{},"operation":"CONNECT","userInfo":{}}}`,
		"nulls":                `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":null,"kind":null,"resource":{"group":null},"requestKind":null,"requestResource":null,"name":null,"userInfo":{"groups":null,"extra":null},"dryRun":null,"options":null}}`,
		"empty groups, extras": `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"userInfo":{"groups":[],"extra":{"a":[],"b":null,"c":["x","y"]}}}}`,
	} {
		t.Run(name, func(t *testing.T) {
			assert.True(t, sameAsControllerRuntime(t, []byte(body), "application/json"), "the reader takes it itself")
		})
	}
	// What it leaves to controller-runtime, which answers as it always has.
	for name, body := range map[string]string{
		"v1beta1":             strings.Replace(create, "admission.k8s.io/v1", "admission.k8s.io/v1beta1", 1),
		"another kind":        strings.Replace(create, `"kind":"AdmissionReview"`, `"kind":"Review"`, 1),
		"no kind":             strings.Replace(create, `"kind":"AdmissionReview",`, ``, 1),
		"no request":          `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`,
		"null request":        `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":null}`,
		"a response":          strings.Replace(create, `"request":`, `"response":{"uid":"x","allowed":true},"request":`, 1),
		"an unknown key":      strings.Replace(create, `"dryRun":true`, `"dryRun":true,"future":1`, 1),
		"a key in other case": strings.Replace(create, `"userInfo":{"username"`, `"userInfo":{"UserName"`, 1),
		"apiVersion in case":  strings.Replace(create, `"apiVersion":"admission.k8s.io/v1"`, `"APIVersion":"admission.k8s.io/v1"`, 1),
		"a key twice":         strings.Replace(create, `"name":"m",`, `"name":"m","name":"n",`, 1),
		"a number for a name": strings.Replace(create, `"name":"m",`, `"name":7,`, 1),
		"invalid JSON inside": strings.Replace(create, `"spec":{}`, `"spec":{"a":01}`, 1),
		"unterminated":        create[:len(create)-1],
		"trailing garbage":    create + "x",
		"a string for dryRun": strings.Replace(create, `"dryRun":true`, `"dryRun":"true"`, 1),
		"empty":               ``,
		"not an object":       `[]`,
		"YAML":                "apiVersion: admission.k8s.io/v1\nkind: AdmissionReview\nrequest: {uid: \"1\"}\n",
	} {
		t.Run(name, func(t *testing.T) {
			assert.False(t, sameAsControllerRuntime(t, []byte(body), "application/json"), "left to controller-runtime")
		})
	}
	t.Run("another content type", func(t *testing.T) {
		assert.False(t, sameAsControllerRuntime(t, []byte(create), "application/yaml"))
		assert.False(t, sameAsControllerRuntime(t, []byte(create), ""))
	})
	// What it answers itself, as controller-runtime answers it, without
	// handing controller-runtime a second copy of the body.
	t.Run("over the size limit", func(t *testing.T) {
		// sized is the CREATE review padded to n bytes.
		sized := func(n int) []byte {
			body := strings.Replace(create, `"spec":{}`, `"spec":{"x":"`+strings.Repeat("a", n-len(create)-6)+`"}`, 1)
			require.Equal(t, n, len(body))
			return []byte(body)
		}
		assert.True(t, sameAsControllerRuntime(t, sized(maxReviewBytes+1000), "application/json"))
		assert.True(t, sameAsControllerRuntime(t, sized(maxReviewBytes), "application/json"))
		assert.True(t, sameAsControllerRuntime(t, sized(maxReviewBytes-1), "application/json"), "one byte under the limit: read")
	})
	t.Run("a body that cannot be read", func(t *testing.T) {
		assert.True(t, sameWithLimit(t, []byte(create), "application/json", 100))
	})
}

// FuzzReviewReader holds the reader to controller-runtime on any body.
func FuzzReviewReader(f *testing.F) {
	f.Add(webhooktest.UpdateReview("t", "m", "milvusdb/milvus:v2.1.4", "milvusdb/milvus:v2.4.23", "bob"))
	f.Add([]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"1","userInfo":{"groups":["a"],"extra":{"k":["v"]}},"object":{"a":[1,{"b":null}]},"oldObject":null,"dryRun":false,"options":{}}}`))
	f.Add([]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"name":"\u00e9\"","requestKind":{"group":"g","version":"v","kind":"K"},"requestResource":null}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		sameAsControllerRuntime(t, body, "application/json")
	})
}

// TestWebhookMetricsAreControllerRuntimes checks that the metrics the
// reader's requests are counted in are the ones controller-runtime
// registers and exposes, not copies.
func TestWebhookMetricsAreControllerRuntimes(t *testing.T) {
	const path = "/metrics-test"
	hook := &admission.Webhook{Handler: admission.HandlerFunc(func(context.Context, admission.Request) admission.Response {
		return admission.Allowed("")
	})}
	h := instrumented(path, reviewReader{hook: hook, fallbacks: ReviewFallbacks.WithLabelValues(path)})
	before := testutil.ToFloat64(ReviewFallbacks.WithLabelValues(path))
	for _, body := range [][]byte{webhooktest.UpdateReview("t", "m", "a:v2.4.1", "a:v2.4.2", "u"), []byte("{")} {
		r := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		h.ServeHTTP(httptest.NewRecorder(), r)
	}
	assert.Equal(t, before+1, testutil.ToFloat64(ReviewFallbacks.WithLabelValues(path)), "the unreadable review fell back")

	families, err := metrics.Registry.Gather()
	require.NoError(t, err)
	counted := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "webhook" && l.GetValue() == path {
					switch {
					case m.GetCounter() != nil:
						counted[f.GetName()] += m.GetCounter().GetValue()
					case m.GetGauge() != nil:
						counted[f.GetName()] += m.GetGauge().GetValue()
					case m.GetHistogram() != nil:
						counted[f.GetName()] += float64(m.GetHistogram().GetSampleCount())
					}
				}
			}
		}
	}
	assert.Equal(t, map[string]float64{
		"controller_runtime_webhook_requests_total":     2,
		"controller_runtime_webhook_latency_seconds":    2,
		"milvus_admission_review_fallbacks_total":       1,
		"controller_runtime_webhook_requests_in_flight": 0,
	}, counted)
}

func TestReadBody(t *testing.T) {
	body := []byte(strings.Repeat("review ", 1000))
	for name, announced := range map[string]int64{
		"as announced":             int64(len(body)),
		"shorter than announced":   int64(len(body)) + 10,
		"longer than announced":    int64(len(body)) - 3,
		"not announced (chunked)":  -1,
		"announced over the limit": maxReviewBytes + 1,
	} {
		t.Run(name, func(t *testing.T) {
			got, err := readBody(bytes.NewReader(body), announced)
			require.NoError(t, err)
			assert.Equal(t, body, got)
		})
	}
	t.Run("stops at the limit", func(t *testing.T) {
		got, err := readBody(bytes.NewReader(make([]byte, maxReviewBytes+10)), -1)
		require.NoError(t, err)
		assert.Len(t, got, maxReviewBytes)
	})
	t.Run("a read error", func(t *testing.T) {
		for _, announced := range []int64{-1, int64(len(body)) + 7} {
			_, err := readBody(io.MultiReader(bytes.NewReader(body), iotest.ErrReader(errors.New("connection reset"))), announced)
			assert.EqualError(t, err, "connection reset", "announced %d", announced)
		}
	})
}
