// Package gitops runs the health checks this folder ships the way Argo CD
// and Flux run them: the Argo CD checks (argocd/milvus.io/<Kind>/health.lua)
// in gopher-lua with the libraries Argo CD opens for custom checks, and the
// Flux healthCheckExprs (flux/milvus.yaml) with Flux's own CEL status
// evaluator. The files are embedded, so the unit tests here and the
// end-to-end suites judge the objects they produce with the same checks
// users install.
package gitops

import (
	"bytes"
	"context"
	"embed"
	"fmt"
	"time"

	"github.com/fluxcd/cli-utils/pkg/kstatus/status"
	fluxkustomize "github.com/fluxcd/pkg/apis/kustomize"
	fluxcel "github.com/fluxcd/pkg/runtime/cel"
	lua "github.com/yuin/gopher-lua"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/milvus-admission/milvus-admission/internal/shared"
)

//go:embed argocd/milvus.io/Milvus/health.lua argocd/milvus.io/MilvusUpgrade/health.lua flux/milvus.yaml
var files embed.FS

// Kinds are the kinds the checks cover, all in milvus.io/v1beta1.
var Kinds = []string{"Milvus", "MilvusUpgrade"}

// Argo CD health status codes (gitops-engine's health.HealthStatusCode).
const (
	Healthy     = "Healthy"
	Progressing = "Progressing"
	Degraded    = "Degraded"
	Suspended   = "Suspended"
)

// validHealth are the codes Argo CD accepts from a health script.
var validHealth = map[string]bool{"Unknown": true, Progressing: true, Suspended: true, Healthy: true, Degraded: true, "Missing": true}

// Health is what an Argo CD health script returns.
type Health struct{ Status, Message string }

func (h Health) String() string { return h.Status + ": " + h.Message }

// LuaScript is the shipped Argo CD health script of kind.
func LuaScript(kind string) (string, error) {
	data, err := files.ReadFile("argocd/milvus.io/" + kind + "/health.lua")
	if err != nil {
		return "", fmt.Errorf("no Argo CD health check for %s: %w", kind, err)
	}
	return string(data), nil
}

// ArgoHealth runs a health script as Argo CD runs a custom one from
// argocd-cm: no standard libraries but package, base and table (Argo CD adds
// a reduced os, which these scripts do not use; string, math and io are
// absent), the object as the global obj, a one-second limit, and the
// returned table read as {status, message} with a valid status code.
func ArgoHealth(script string, obj *unstructured.Unstructured) (Health, error) {
	L := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer L.Close()
	for name, open := range map[string]lua.LGFunction{lua.LoadLibName: lua.OpenPackage, lua.BaseLibName: lua.OpenBase, lua.TabLibName: lua.OpenTable} {
		if err := L.CallByParam(lua.P{Fn: L.NewFunction(open), NRet: 0, Protect: true}, lua.LString(name)); err != nil {
			return Health{}, fmt.Errorf("opening the Lua library %q: %w", name, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	L.SetContext(ctx)
	L.SetGlobal("obj", toLua(L, obj.Object))
	if err := L.DoString(script); err != nil {
		return Health{}, fmt.Errorf("the health script fails: %w", err)
	}
	ret, ok := L.Get(-1).(*lua.LTable)
	if !ok {
		return Health{}, fmt.Errorf("the health script returns a %s, not a table", L.Get(-1).Type())
	}
	h := Health{Status: ret.RawGetString("status").String(), Message: ret.RawGetString("message").String()}
	if !validHealth[h.Status] {
		return h, fmt.Errorf("status %q is not an Argo CD health status", h.Status)
	}
	return h, nil
}

// toLua converts a decoded object the way Argo CD does before it runs a
// health script (util/lua: maps → tables, lists → 1-based tables, numbers,
// strings, booleans; nothing else).
func toLua(L *lua.LState, v any) lua.LValue {
	switch v := v.(type) {
	case bool:
		return lua.LBool(v)
	case string:
		return lua.LString(v)
	case int64:
		return lua.LNumber(v)
	case float64:
		return lua.LNumber(v)
	case []any:
		t := L.CreateTable(len(v), 0)
		for _, e := range v {
			t.Append(toLua(L, e))
		}
		return t
	case map[string]any:
		t := L.CreateTable(0, len(v))
		for k, e := range v {
			t.RawSetString(k, toLua(L, e))
		}
		return t
	}
	return lua.LNil
}

// FluxKustomization is the part of flux/milvus.yaml's Kustomization that
// carries the health checks.
type FluxKustomization struct {
	Kind string `json:"kind"`
	Spec struct {
		HealthCheckExprs []fluxkustomize.CustomHealthCheck `json:"healthCheckExprs"`
	} `json:"spec"`
}

// FluxEvaluators builds Flux's status evaluator for each kind from the
// healthCheckExprs of flux/milvus.yaml, as kustomize-controller does.
func FluxEvaluators() (map[string]*fluxcel.StatusEvaluator, error) {
	data, err := files.ReadFile("flux/milvus.yaml")
	if err != nil {
		return nil, err
	}
	docs, err := shared.YAMLDocuments(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("flux/milvus.yaml: %w", err)
	}
	evs := map[string]*fluxcel.StatusEvaluator{}
	for _, doc := range docs {
		var k FluxKustomization
		if err := yaml.Unmarshal(doc, &k); err != nil {
			return nil, fmt.Errorf("flux/milvus.yaml: %w", err)
		}
		if k.Kind != "Kustomization" {
			continue
		}
		for _, hc := range k.Spec.HealthCheckExprs {
			if hc.APIVersion != "milvus.io/v1beta1" {
				return nil, fmt.Errorf("flux/milvus.yaml: the %s check names apiVersion %q, not milvus.io/v1beta1", hc.Kind, hc.APIVersion)
			}
			ev, err := fluxcel.NewStatusEvaluator(&hc.HealthCheckExpressions)
			if err != nil {
				return nil, fmt.Errorf("flux/milvus.yaml: Flux does not accept the %s expressions: %w", hc.Kind, err)
			}
			evs[hc.Kind] = ev
		}
	}
	for _, kind := range Kinds {
		if evs[kind] == nil {
			return nil, fmt.Errorf("flux/milvus.yaml has no healthCheckExprs for %s", kind)
		}
	}
	return evs, nil
}

// FluxStatus is what Flux's health check makes of obj: the evaluator's
// status, or Unknown when an expression cannot be evaluated (Flux's status
// reader does the same, and its wait keeps polling until the timeout).
func FluxStatus(ev *fluxcel.StatusEvaluator, obj *unstructured.Unstructured) status.Status {
	res, err := ev.Evaluate(context.Background(), obj)
	if err != nil {
		return status.UnknownStatus
	}
	return res.Status
}

// Verdict is what both tools make of one object.
type Verdict struct {
	Argo Health
	Flux status.Status
}

func (v Verdict) String() string { return fmt.Sprintf("Argo CD %s; Flux %s", v.Argo, v.Flux) }

// Checks are the shipped checks of every kind, loaded once.
type Checks struct {
	lua  map[string]string
	flux map[string]*fluxcel.StatusEvaluator
}

// Load reads and compiles the shipped checks.
func Load() (*Checks, error) {
	c := &Checks{lua: map[string]string{}}
	for _, kind := range Kinds {
		script, err := LuaScript(kind)
		if err != nil {
			return nil, err
		}
		c.lua[kind] = script
	}
	var err error
	if c.flux, err = FluxEvaluators(); err != nil {
		return nil, err
	}
	return c, nil
}

// Judge runs both checks of obj's kind on it.
func (c *Checks) Judge(obj *unstructured.Unstructured) (Verdict, error) {
	kind := obj.GetKind()
	script, ok := c.lua[kind]
	if !ok {
		return Verdict{}, fmt.Errorf("no health check for kind %q", kind)
	}
	h, err := ArgoHealth(script, obj)
	if err != nil {
		return Verdict{}, fmt.Errorf("%s %s/%s: %w", kind, obj.GetNamespace(), obj.GetName(), err)
	}
	return Verdict{Argo: h, Flux: FluxStatus(c.flux[kind], obj)}, nil
}
