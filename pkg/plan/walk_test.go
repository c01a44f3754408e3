package plan_test

import (
	"encoding/json"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/runtime"

	"github.com/milvus-admission/milvus-admission/pkg/migration"
	"github.com/milvus-admission/milvus-admission/pkg/milvus"
	"github.com/milvus-admission/milvus-admission/pkg/mutate"
	"github.com/milvus-admission/milvus-admission/pkg/plan"
	"github.com/milvus-admission/milvus-admission/pkg/policy"
	"github.com/milvus-admission/milvus-admission/pkg/validate"
)

const (
	repository = "milvusdb/milvus"
	operatorID = "system:serviceaccount:milvus-operator:milvus-operator"
	userID     = "alice@example.com"
)

// start describes the Milvus a walk starts from: what plan.Options says,
// plus the fields the rules read that the planner does not need.
type start struct {
	image          string // the global image, a version or not
	mode, mq, toMQ string
	mixCoord       bool
	rolling        bool
	updateMode     string
	pinned         map[string]string // component → its own image tag
}

// options are the planner's options for s, read from its object as the
// CLI and the rules read them.
func (s start) options() plan.Options {
	m, err := plan.View(s.object())
	if err != nil {
		panic(err) // the test builds the object itself
	}
	o := plan.OptionsFor(m)
	o.ToMsgStreamType = s.toMQ
	return o
}

// object is the stored Milvus s describes, as the operator has reported it
// running (status.currentVersion) when its version is known.
func (s start) object() map[string]any {
	components := map[string]any{"image": s.image}
	if s.updateMode != "" {
		components["imageUpdateMode"] = s.updateMode
	}
	if s.rolling {
		components["enableRollingUpdate"] = true
	}
	if s.mixCoord {
		components["mixCoord"] = map[string]any{"replicas": int64(1)}
	}
	for name, tag := range s.pinned {
		components[name] = map[string]any{"image": repository + ":" + tag, "replicas": int64(2)}
	}
	spec := map[string]any{"components": components, "unknownField": "kept"}
	if s.mode != "" {
		spec["mode"] = s.mode
	}
	if s.mq != "" {
		spec["dependencies"] = map[string]any{"msgStreamType": s.mq}
	}
	obj := map[string]any{
		"apiVersion": "milvus.io/v1beta1", "kind": "Milvus",
		"metadata": map[string]any{"name": "my-release", "namespace": "default", "uid": "uid-1"},
		"spec":     spec,
	}
	if v, err := plan.Version(s.image); err == nil {
		obj["status"] = map[string]any{"currentVersion": v.Tag(), "currentImage": s.image}
	}
	return obj
}

// walk applies the hops of pl one by one to the Milvus s describes, each
// through the real rules as the webhook would judge it, and the operator
// reporting each hop done; it returns the first denial, or the Milvus
// reaching anything but pl.To.
func walk(s start, pl plan.Plan, p *policy.Policy) error {
	obj := s.object()
	var upgrades []milvus.MilvusUpgrade
	for i, h := range pl.Hops {
		step := fmt.Sprintf("hop %d (%s → %s by %s)", i+1, h.From, h.To, h.By)
		old, err := plan.View(obj)
		if err != nil {
			return err
		}
		next := runtime.DeepCopyJSON(obj)
		user := userID
		if h.By == plan.ByMilvusUpgrade {
			u, err := migrationUpgrade(old, upgrades, h, p)
			if err != nil {
				return fmt.Errorf("%s: %w", step, err)
			}
			// The operator migrates, then hands the target image over.
			u.Status.State, u.Status.SourceImage = migration.StateNewVersionStarting, old.Spec.Components.Image
			upgrades = append(upgrades, *u)
			user = operatorID
		}
		if err := h.Apply(next, repository); err != nil {
			return fmt.Errorf("%s: %w", step, err)
		}
		if _, err := mutate.Milvus(next); err != nil { // the defaults the API server gets
			return err
		}
		cur, err := plan.View(next)
		if err != nil {
			return err
		}
		vs := validate.Milvus(validate.MilvusChange{Old: old, New: cur, User: user, Upgrades: upgrades}, p)
		if d := validate.Decide(vs, p); !d.Allowed() {
			return fmt.Errorf("%s denied: %v", step, d.Errors.ToAggregate())
		}
		if need := validate.HeldMigration(vs, p); need != nil {
			return fmt.Errorf("%s held for a migration to %s", step, need.Target)
		}
		if h.By == plan.ByMilvusUpgrade {
			upgrades[len(upgrades)-1].Status.State = migration.StateSucceeded
		}
		// The operator reports the hop done.
		next["status"] = map[string]any{"currentVersion": h.To.Tag(), "currentImage": cur.Spec.Components.Image}
		obj = next
	}
	end, err := plan.View(obj)
	if err != nil {
		return err
	}
	if g := end.Spec.Components.Global(); !g.Known() || g.Version.Compare(pl.To) != 0 {
		return fmt.Errorf("ended at %q, not %s", g.Declared, pl.To)
	}
	if s.toMQ != "" && end.Spec.Dependencies.MsgStreamType != s.toMQ {
		return fmt.Errorf("ended with msgStreamType %q, not %q", end.Spec.Dependencies.MsgStreamType, s.toMQ)
	}
	if spec := obj["spec"].(map[string]any); spec["unknownField"] != "kept" {
		return fmt.Errorf("a hop dropped a field the planner does not know")
	}
	return nil
}

// migrationUpgrade is the MilvusUpgrade of a migration hop, built as the
// controller builds it and defaulted as the mutating webhook does, after
// the MilvusUpgrade rules admitted it.
func migrationUpgrade(m *milvus.Milvus, upgrades []milvus.MilvusUpgrade, h plan.Hop, p *policy.Policy) (*milvus.MilvusUpgrade, error) {
	built, err := migration.BuildUpgrade(m, upgrades, migration.Intent{UpgradeName: migration.UpgradeName(m.Name, h.To), Target: h.To}, p)
	if err != nil {
		return nil, err
	}
	if _, err := mutate.MilvusUpgrade(built.Object, m.Namespace, nil, m, p); err != nil {
		return nil, err
	}
	data, err := json.Marshal(built.Object)
	if err != nil {
		return nil, err
	}
	u := &milvus.MilvusUpgrade{}
	if err := milvus.Decode(data, milvus.MilvusUpgradeKind, u); err != nil {
		return nil, err
	}
	if u.Spec.SourceVersion != h.From.Tag() || u.Spec.TargetVersion != h.To.Tag() {
		return nil, fmt.Errorf("built upgrade %s → %s, not the hop's", u.Spec.SourceVersion, u.Spec.TargetVersion)
	}
	vs := validate.MilvusUpgrade(validate.UpgradeChange{New: u, Target: m, TargetUpgrades: upgrades}, p)
	if d := validate.Decide(vs, p); !d.Allowed() {
		return nil, fmt.Errorf("MilvusUpgrade denied: %v", d.Errors.ToAggregate())
	}
	return u, nil
}

// fires reports whether the direct change from → to of the Milvus s
// describes breaks rule, with the rule on even where p turns it off (the
// planner never plans what a fact forbids, whatever the policy waives): an
// unreachable target must be one the rules stop.
func fires(s start, to string, rule policy.RuleID, p *policy.Policy) (bool, error) {
	if p.ActionFor(rule) == policy.Off {
		on, err := policy.Parse([]byte("migrationWaypoint: " + p.MigrationWaypoint + "\nrules: {" + string(rule) + ": deny}"))
		if err != nil {
			return false, err
		}
		p = on
	}
	old, err := plan.View(s.object())
	if err != nil {
		return false, err
	}
	next := s.object()
	next["spec"].(map[string]any)["components"].(map[string]any)["image"] = to
	cur, err := plan.View(next)
	if err != nil {
		return false, err
	}
	var got []string
	for _, v := range validate.Milvus(validate.MilvusChange{Old: old, New: cur, User: userID}, p) {
		if v.Rule == rule {
			return true, nil
		}
		got = append(got, string(v.Rule))
	}
	return false, fmt.Errorf("the direct change %s → %s breaks [%s], not %s", s.image, to, strings.Join(got, " "), rule)
}

// imageOf is the image a grid entry stands for: a version tagged in the
// repository, or the image reference itself.
func imageOf(ref string) string {
	if _, err := milvus.ParseVersion(ref); err == nil {
		return repository + ":" + ref
	}
	return ref
}
