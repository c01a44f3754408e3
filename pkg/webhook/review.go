package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// reviewReader serves an admission.Webhook, reading the AdmissionReview
// itself when it is one as the API server writes it.
//
// controller-runtime's ServeHTTP reads a review four times over before the
// handler sees it: encoding/json checks and skips the whole body only to
// find its kind, then sigs.k8s.io/json checks and decodes it again, copying
// the two objects. For a 15 KB Milvus that is most of the CPU a request
// costs, the no-op handler's included. readReview reads it once, with the
// reader of decode.go, and takes the objects' bytes without copying them.
//
// Anything readReview does not take exactly as controller-runtime would (see
// readReview) goes to the webhook's own ServeHTTP with the body as it came,
// so unusual reviews and malformed ones are answered by controller-runtime.
// A body that cannot be read, or is over the limit, is answered here as
// controller-runtime answers it, without a second copy of up to 7 MiB.
// TestReviewReaderAnswersAsControllerRuntime and FuzzReviewReader hold the
// two equal: same request to the handler, same bytes back.
type reviewReader struct {
	hook *admission.Webhook
	// fallbacks counts the reviews handed to the hook's ServeHTTP.
	fallbacks prometheus.Counter
}

// maxReviewBytes is controller-runtime's limit on a review's body.
const maxReviewBytes = 7 << 20

func (rr reviewReader) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Body == nil || r.Body == http.NoBody || r.Header.Get("Content-Type") != "application/json" {
		rr.fallback(w, r, nil)
		return
	}
	defer r.Body.Close()
	body, err := readBody(r.Body, r.ContentLength)
	switch {
	case err != nil:
		rr.unread(w, http.StatusBadRequest, err)
		return
	case len(body) >= maxReviewBytes:
		rr.unread(w, http.StatusRequestEntityTooLarge, fmt.Errorf("request entity is too large; limit is %d bytes", maxReviewBytes))
		return
	}
	req, ok := readReview(body)
	if !ok {
		rr.fallback(w, r, body)
		return
	}
	ctx := r.Context()
	if rr.hook.WithContextFunc != nil {
		ctx = rr.hook.WithContextFunc(ctx, r)
	}
	resp := rr.hook.Handle(ctx, req)
	// As controller-runtime writes a response to a v1 review.
	out := admissionv1.AdmissionReview{TypeMeta: reviewV1, Response: &resp.AdmissionResponse}
	if err := json.NewEncoder(w).Encode(out); err != nil {
		// The connection broke (the response is a plain struct): one try
		// to say so, as controller-runtime does.
		writeErrored(w, http.StatusInternalServerError, err)
	}
}

// reviewV1 is the apiVersion and kind of the reviews readReview takes and
// of the answers to them.
var reviewV1 = metav1.TypeMeta{APIVersion: admissionv1.SchemeGroupVersion.String(), Kind: "AdmissionReview"}

// unread answers a request whose body could not be read, as
// controller-runtime does.
func (rr reviewReader) unread(w http.ResponseWriter, code int32, err error) {
	logf.Log.WithName("admission").Error(err, "unable to read the body from the incoming request")
	writeErrored(w, code, err)
}

// writeErrored writes the answer controller-runtime gives to a request it
// cannot serve: an error in a review without a kind.
func writeErrored(w io.Writer, code int32, err error) {
	failed := admission.Errored(code, err)
	_ = json.NewEncoder(w).Encode(admissionv1.AdmissionReview{Response: &failed.AdmissionResponse})
}

// fallback serves r by the hook, with the body as it came: read, all of
// it, or still in r (read nil).
func (rr reviewReader) fallback(w http.ResponseWriter, r *http.Request, read []byte) {
	rr.fallbacks.Inc()
	if read != nil {
		r.Body = struct {
			io.Reader
			io.Closer
		}{bytes.NewReader(read), r.Body}
	}
	rr.hook.ServeHTTP(w, r)
}

// readBody reads up to maxReviewBytes bytes of body. A body that announces
// at most maxPreallocated bytes (a production review is some 30 KB) is read
// into one buffer of that size; any other with io.ReadAll, whose buffers
// grow with what arrives, so that a client announcing a large body and
// sending it slowly holds no more memory than it has sent.
func readBody(body io.Reader, size int64) ([]byte, error) {
	body = io.LimitReader(body, maxReviewBytes)
	if size <= 0 || size > maxPreallocated {
		return io.ReadAll(body)
	}
	b := make([]byte, size+1) // +1: a body longer than announced is read on
	n, err := io.ReadFull(body, b)
	switch {
	case err == io.ErrUnexpectedEOF || err == io.EOF:
		return b[:n], nil
	case err != nil:
		return b[:n], err
	}
	rest, err := io.ReadAll(body)
	return append(b, rest...), err
}

// maxPreallocated is the largest announced body readBody allocates at once.
const maxPreallocated = 64 << 10

// readReview reads an admission.k8s.io/v1 AdmissionReview as the API server
// writes it into the request controller-runtime's decoding would give the
// handler. The objects and options are the body's own bytes.
//
// It reports false on anything else: invalid JSON, another apiVersion or
// kind, no request, a key it does not know (at any level it reads, a
// response included), a key twice, a value of another type. Reading those
// exactly as controller-runtime does (it finds the kind case-insensitively,
// then decodes case-sensitively; the last of two keys wins) is left to
// controller-runtime.
func readReview(body []byte) (admission.Request, bool) {
	var (
		req              admission.Request
		apiVersion, kind string
		seen             fields
		hasRequest       bool
		r                = reader{data: body}
	)
	r.object(func(key []byte) {
		if !seen.once(&r, key, reviewKeys) {
			return
		}
		switch string(key) {
		case "apiVersion":
			r.str(&apiVersion)
		case "kind":
			r.str(&kind)
		case "request":
			r.ws()
			hasRequest = !r.null()
			if hasRequest {
				r.admissionRequest(&req.AdmissionRequest)
			}
		}
	})
	r.ws()
	return req, !r.bad && r.i == len(r.data) && hasRequest && apiVersion == reviewV1.APIVersion && kind == reviewV1.Kind
}

var reviewKeys = []string{"apiVersion", "kind", "request"}

// fields marks the keys an object had, to refuse a key twice.
type fields uint32

// once reports whether key is one of known, seen for the first time; it
// fails r when it is not.
func (f *fields) once(r *reader, key []byte, known []string) bool {
	for i, k := range known {
		if string(key) == k && *f&(1<<i) == 0 {
			*f |= 1 << i
			return true
		}
	}
	r.fail()
	return false
}

var requestKeys = []string{"uid", "kind", "resource", "subResource", "requestKind", "requestResource",
	"requestSubResource", "name", "namespace", "operation", "userInfo", "object", "oldObject", "dryRun", "options"}

func (r *reader) admissionRequest(req *admissionv1.AdmissionRequest) {
	var seen fields
	r.object(func(key []byte) {
		if !seen.once(r, key, requestKeys) {
			return
		}
		switch string(key) {
		case "uid":
			strAs(r, &req.UID)
		case "kind":
			r.gvk(&req.Kind)
		case "resource":
			r.gvr(&req.Resource)
		case "subResource":
			r.str(&req.SubResource)
		case "requestKind":
			if r.ws(); !r.null() {
				req.RequestKind = &metav1.GroupVersionKind{}
				r.gvk(req.RequestKind)
			}
		case "requestResource":
			if r.ws(); !r.null() {
				req.RequestResource = &metav1.GroupVersionResource{}
				r.gvr(req.RequestResource)
			}
		case "requestSubResource":
			r.str(&req.RequestSubResource)
		case "name":
			r.str(&req.Name)
		case "namespace":
			r.str(&req.Namespace)
		case "operation":
			strAs(r, &req.Operation)
		case "userInfo":
			r.userInfo(&req.UserInfo)
		case "object":
			r.raw(&req.Object)
		case "oldObject":
			r.raw(&req.OldObject)
		case "dryRun":
			r.boolPtr(&req.DryRun)
		case "options":
			r.raw(&req.Options)
		}
	})
}

var gvkKeys, gvrKeys = []string{"group", "version", "kind"}, []string{"group", "version", "resource"}

func (r *reader) gvk(p *metav1.GroupVersionKind) {
	r.triple(gvkKeys, &p.Group, &p.Version, &p.Kind)
}

func (r *reader) gvr(p *metav1.GroupVersionResource) {
	r.triple(gvrKeys, &p.Group, &p.Version, &p.Resource)
}

// triple reads an object of three strings.
func (r *reader) triple(keys []string, a, b, c *string) {
	var seen fields
	dst := [3]*string{a, b, c}
	r.object(func(key []byte) {
		if seen.once(r, key, keys) {
			r.str(dst[slices.Index(keys, string(key))])
		}
	})
}

var userInfoKeys = []string{"username", "uid", "groups", "extra"}

func (r *reader) userInfo(u *authenticationv1.UserInfo) {
	var seen fields
	r.object(func(key []byte) {
		if !seen.once(r, key, userInfoKeys) {
			return
		}
		switch string(key) {
		case "username":
			r.str(&u.Username)
		case "uid":
			r.str(&u.UID)
		case "groups":
			r.strings(&u.Groups)
		case "extra":
			r.ws()
			if r.null() {
				return
			}
			u.Extra = map[string]authenticationv1.ExtraValue{}
			r.object(func(key []byte) {
				var v []string
				r.strings(&v)
				u.Extra[string(key)] = v
			})
		}
	})
}

// raw takes a value's bytes, as runtime.RawExtension's UnmarshalJSON does
// (null: none), checking that they are JSON.
func (r *reader) raw(p *runtime.RawExtension) {
	if r.ws(); !r.null() {
		p.Raw = r.value()
	}
}

// instrumented counts and times h in controller-runtime's webhook metrics
// for path, as it does for the webhooks it serves itself
// (controller_runtime_webhook_requests_total, _latency_seconds,
// _requests_in_flight).
func instrumented(path string, h http.Handler) http.Handler {
	labels := prometheus.Labels{"webhook": path}
	latency := webhookMetrics.latency.MustCurryWith(labels)
	requests := webhookMetrics.requests.MustCurryWith(labels)
	requests.WithLabelValues("200")
	requests.WithLabelValues("500")
	return promhttp.InstrumentHandlerDuration(latency,
		promhttp.InstrumentHandlerCounter(requests,
			promhttp.InstrumentHandlerInFlight(webhookMetrics.inFlight.With(labels), h)))
}

// webhookMetrics are controller-runtime's webhook metrics. Its package that
// records them is internal; registering collectors that describe the same
// metrics returns the ones it registered.
var webhookMetrics = struct {
	latency  *prometheus.HistogramVec
	requests *prometheus.CounterVec
	inFlight *prometheus.GaugeVec
}{
	latency: registered(prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "controller_runtime_webhook_latency_seconds",
		Help: "Histogram of the latency of processing admission requests",
	}, []string{"webhook"})),
	requests: registered(prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "controller_runtime_webhook_requests_total",
		Help: "Total number of admission requests by HTTP status code.",
	}, []string{"webhook", "code"})),
	inFlight: registered(prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "controller_runtime_webhook_requests_in_flight",
		Help: "Current number of admission requests being served.",
	}, []string{"webhook"})),
}

// registered returns the collector already registered as c describes it.
// It panics when there is none, or one that differs: controller-runtime
// changed its metrics, and TestWebhookMetricsAreControllerRuntimes says so.
func registered[C prometheus.Collector](c C) C {
	var are prometheus.AlreadyRegisteredError
	err := metrics.Registry.Register(c)
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing
		}
	}
	if err == nil {
		metrics.Registry.Unregister(c)
		err = errors.New("controller-runtime registers no such metric")
	}
	panic("controller-runtime's webhook metrics changed: " + err.Error())
}

// ReviewFallbacks counts the AdmissionReviews the webhook's own reader did
// not take and controller-runtime's decoding read instead: anything but a
// v1 review as the API server writes it, malformed ones included.
var ReviewFallbacks = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "milvus_admission_review_fallbacks_total",
	Help: "AdmissionReviews read by controller-runtime's decoding rather than the webhook's own reader (not a v1 review as the API server writes it, or malformed), by webhook path.",
}, []string{"webhook"})

func init() { metrics.Registry.MustRegister(ReviewFallbacks) }
