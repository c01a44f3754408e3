package operator

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
)

// Pending is how States shows the operator's UpgradeStatePending, an empty
// status.state.
const Pending = "Pending"

var upgradeResource = schema.GroupVersionResource{Group: "milvus.io", Version: "v1beta1", Resource: "milvusupgrades"}

// States records, for every MilvusUpgrade of a namespace, the status.state
// values a watch delivers, in order and without repeats: the state machine
// as a client sees it. The operator may pass several states within one
// reconcile and store only the last, so a state can be missing from the
// record even though the operator went through it.
type States struct {
	mu      sync.Mutex
	changed chan struct{} // closed and replaced on every change
	seq     map[string][]Transition
	last    map[string]*unstructured.Unstructured
}

// Transition is a state and when the watch delivered it.
type Transition struct {
	State string
	At    time.Time
}

// RecordStates watches the MilvusUpgrades of namespace as the admin of cfg
// until ctx ends.
func RecordStates(ctx context.Context, cfg *rest.Config, namespace string) (*States, error) {
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	s := &States{changed: make(chan struct{}), seq: map[string][]Transition{}, last: map[string]*unstructured.Unstructured{}}
	f := dynamicinformer.NewFilteredDynamicSharedInformerFactory(dyn, 0, namespace, nil)
	inf := f.ForResource(upgradeResource).Informer()
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { s.observe(obj.(*unstructured.Unstructured)) },
		UpdateFunc: func(_, obj any) { s.observe(obj.(*unstructured.Unstructured)) },
	}); err != nil {
		return nil, err
	}
	f.Start(ctx.Done())
	syncCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if !cache.WaitForCacheSync(syncCtx.Done(), inf.HasSynced) {
		return nil, fmt.Errorf("watching MilvusUpgrades in %s: not synced within 30s", namespace)
	}
	return s, nil
}

func (s *States) observe(u *unstructured.Unstructured) {
	state, _, _ := unstructured.NestedString(u.Object, "status", "state")
	if state == "" {
		state = Pending
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.last[u.GetName()] = u
	if seq := s.seq[u.GetName()]; len(seq) == 0 || seq[len(seq)-1].State != state {
		s.seq[u.GetName()] = append(seq, Transition{State: state, At: time.Now()})
	}
	close(s.changed)
	s.changed = make(chan struct{})
}

// Of is the sequence of states recorded for the MilvusUpgrade name.
func (s *States) Of(name string) []string {
	var out []string
	for _, t := range s.Transitions(name) {
		out = append(out, t.State)
	}
	return out
}

// Transitions is Of with the time each state was seen.
func (s *States) Transitions(name string) []Transition {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Transition(nil), s.seq[name]...)
}

// String shows the sequence as "Pending → OldVersionStopping → …".
func (s *States) String(name string) string { return strings.Join(s.Of(name), " → ") }

// Current is the last state recorded for name, "" when none was.
func (s *States) Current(name string) string {
	seq := s.Of(name)
	if len(seq) == 0 {
		return ""
	}
	return seq[len(seq)-1]
}

// Conditions summarizes the status conditions last seen on name, for
// failure messages.
func (s *States) Conditions(name string) string {
	s.mu.Lock()
	u := s.last[name]
	s.mu.Unlock()
	if u == nil {
		return "(not seen)"
	}
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	var out []string
	for _, c := range conds {
		m, _ := c.(map[string]any)
		out = append(out, fmt.Sprintf("%v=%v (%v: %v)", m["type"], m["status"], m["reason"], m["message"]))
	}
	return strings.Join(out, "; ")
}

// Wait waits up to timeout until the state of name is one of states, and
// returns it.
func (s *States) Wait(ctx context.Context, name string, timeout time.Duration, states ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		s.mu.Lock()
		changed := s.changed
		s.mu.Unlock()
		cur := s.Current(name)
		for _, want := range states {
			if cur == want {
				return cur, nil
			}
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return cur, fmt.Errorf("MilvusUpgrade %s did not reach %s within %s: states seen %q, conditions %s",
				name, strings.Join(states, " or "), timeout, s.String(name), s.Conditions(name))
		}
	}
}
