// Package milvus holds the parts of the Milvus Operator API (milvus.io/v1beta1)
// that the admission rules read, and the image and version parsing they rely on.
//
// The types are read-only views: they decode only the fields a rule needs and
// are never encoded back into a request, so fields they do not know are never
// lost (mutation works on the raw object, see pkg/mutate). They are runtime
// objects too (object.go): the webhook's informer cache holds them.
package milvus

import (
	"encoding/json"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Group and APIVersion of the Milvus Operator API we guard.
const (
	Group      = "milvus.io"
	APIVersion = "v1beta1"
)

// Kinds of the two guarded objects, and of a list of MilvusUpgrades.
var (
	MilvusKind            = schema.GroupVersionKind{Group: Group, Version: APIVersion, Kind: "Milvus"}
	MilvusUpgradeKind     = schema.GroupVersionKind{Group: Group, Version: APIVersion, Kind: "MilvusUpgrade"}
	MilvusUpgradeListKind = schema.GroupVersionKind{Group: Group, Version: APIVersion, Kind: "MilvusUpgradeList"}
)

// Values of spec.mode.
const (
	ModeCluster    = "cluster"
	ModeStandalone = "standalone"
)

// Values of spec.components.imageUpdateMode (MU-DOWN-MODE).
const (
	UpdateModeRollingUpgrade   = "rollingUpgrade"
	UpdateModeRollingDowngrade = "rollingDowngrade"
)

// Values of MilvusUpgrade spec.operation.
const (
	OperationUpgrade  = "upgrade"
	OperationRollback = "rollback"
)

// Milvus is a read-only view of a milvus.io/v1beta1 Milvus.
type Milvus struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              MilvusSpec   `json:"spec,omitempty"`
	Status            MilvusStatus `json:"status,omitempty"`
}

// MilvusSpec is the part of a Milvus spec the rules read.
type MilvusSpec struct {
	Mode         string       `json:"mode,omitempty"`
	Components   Components   `json:"components,omitempty"`
	Dependencies Dependencies `json:"dependencies,omitempty"`
}

// Dependencies is the part of spec.dependencies the rules read.
type Dependencies struct {
	MsgStreamType string `json:"msgStreamType,omitempty"`
}

// Component is what each component (and the global components block) may set
// about its image.
type Component struct {
	Image   string `json:"image,omitempty"`
	Version string `json:"version,omitempty"`
}

// Components is spec.components: the global image and the per-component overrides.
type Components struct {
	Component           `json:",inline"`
	ImageUpdateMode     string `json:"imageUpdateMode,omitempty"`
	EnableRollingUpdate *bool  `json:"enableRollingUpdate,omitempty"`

	// The components that may override the image. A nil pointer is absent.
	Proxy         *Component `json:"proxy,omitempty"`
	QueryNode     *Component `json:"queryNode,omitempty"`
	DataNode      *Component `json:"dataNode,omitempty"`
	IndexNode     *Component `json:"indexNode,omitempty"`
	StreamingNode *Component `json:"streamingNode,omitempty"`
	MixCoord      *Component `json:"mixCoord,omitempty"`
	RootCoord     *Component `json:"rootCoord,omitempty"`
	DataCoord     *Component `json:"dataCoord,omitempty"`
	QueryCoord    *Component `json:"queryCoord,omitempty"`
	IndexCoord    *Component `json:"indexCoord,omitempty"`
	Standalone    *Component `json:"standalone,omitempty"`
	CDC           *Component `json:"cdc,omitempty"`
}

// NamedComponent is one entry of Components.Named.
type NamedComponent struct {
	Name string
	*Component
}

// Named lists the component blocks in a fixed order, each with its JSON name;
// absent ones have a nil Component. An array, not a slice: rules call it on
// every request, and an array stays off the heap.
func (c *Components) Named() (out [componentCount]NamedComponent) {
	for i, s := range c.slots() {
		out[i] = NamedComponent{s.name, *s.block}
	}
	return out
}

// Slots are the component block fields in Named's order, to set them.
func (c *Components) Slots() (out [componentCount]**Component) {
	for i, s := range c.slots() {
		out[i] = s.block
	}
	return out
}

// componentCount is the number of component blocks.
const componentCount = 12

// componentSlot is a component block's field, by its JSON name.
type componentSlot struct {
	name  string
	block **Component
}

// slots are the component block fields in Named's order.
func (c *Components) slots() [componentCount]componentSlot {
	return [componentCount]componentSlot{
		{"proxy", &c.Proxy}, {"queryNode", &c.QueryNode}, {"dataNode", &c.DataNode},
		{"indexNode", &c.IndexNode}, {"streamingNode", &c.StreamingNode}, {"mixCoord", &c.MixCoord},
		{"rootCoord", &c.RootCoord}, {"dataCoord", &c.DataCoord}, {"queryCoord", &c.QueryCoord},
		{"indexCoord", &c.IndexCoord}, {"standalone", &c.Standalone}, {"cdc", &c.CDC},
	}
}

// RollingUpdate reports whether spec.components.enableRollingUpdate is true.
func (c *Components) RollingUpdate() bool {
	return c.EnableRollingUpdate != nil && *c.EnableRollingUpdate
}

// MilvusStatus is the part of a Milvus status the rules read. The operator
// writes CurrentImage and CurrentVersion only once the cluster is ready and
// fully updated; Health is its overall status now (StatusHealthy while every
// component is ready).
type MilvusStatus struct {
	CurrentImage   string `json:"currentImage,omitempty"`
	CurrentVersion string `json:"currentVersion,omitempty"`
	Health         string `json:"status,omitempty"`
}

// StatusHealthy is the operator's status.status of a Milvus whose components
// are all ready (its condition MilvusReady is True).
const StatusHealthy = "Healthy"

// MilvusUpgrade is a read-only view of a milvus.io/v1beta1 MilvusUpgrade.
type MilvusUpgrade struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              MilvusUpgradeSpec   `json:"spec,omitempty"`
	Status            MilvusUpgradeStatus `json:"status,omitempty"`
}

// ObjectReference names the Milvus a MilvusUpgrade acts on.
type ObjectReference struct {
	Name      string `json:"name,omitempty"`
	Namespace string `json:"namespace,omitempty"`
}

// MilvusUpgradeSpec is the spec of a MilvusUpgrade.
type MilvusUpgradeSpec struct {
	Milvus           ObjectReference `json:"milvus,omitempty"`
	SourceVersion    string          `json:"sourceVersion,omitempty"`
	TargetVersion    string          `json:"targetVersion,omitempty"`
	TargetImage      string          `json:"targetImage,omitempty"`
	ToolImage        string          `json:"toolImage,omitempty"`
	Operation        string          `json:"operation,omitempty"`
	MaxRetry         *int64          `json:"maxRetry,omitempty"`
	RollbackIfFailed *bool           `json:"rollbackIfFailed,omitempty"`
	BackupPVC        string          `json:"backupPVC,omitempty"`
}

// MilvusUpgradeStatus is the part of a MilvusUpgrade status the rules read.
type MilvusUpgradeStatus struct {
	State       string `json:"state,omitempty"`
	SourceImage string `json:"sourceImage,omitempty"`
}

// TargetNamespace is the namespace of the Milvus the upgrade acts on: the
// object's own namespace when spec.milvus.namespace is empty.
func (u *MilvusUpgrade) TargetNamespace() string {
	if u.Spec.Milvus.Namespace != "" {
		return u.Spec.Milvus.Namespace
	}
	return u.Namespace
}

// Targets reports whether the upgrade acts on m.
func (u *MilvusUpgrade) Targets(m *Milvus) bool {
	return u.Spec.Milvus.Name == m.Name && u.TargetNamespace() == m.Namespace
}

// Decode reads a JSON (or JSON-compatible) object of the expected kind into
// out. It rejects another apiVersion/kind with a specific error, so a
// mis-registered webhook fails loudly instead of judging the wrong object.
func Decode(raw []byte, want schema.GroupVersionKind, out any) error {
	var tm metav1.TypeMeta
	if err := json.Unmarshal(raw, &tm); err != nil {
		return fmt.Errorf("decoding %s: %w", want.Kind, err)
	}
	if got := tm.GroupVersionKind(); got != want {
		return fmt.Errorf("expected %s, got apiVersion %q kind %q", want, tm.APIVersion, tm.Kind)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("decoding %s: %w", want.Kind, err)
	}
	return nil
}

// Field paths the rules report.
var (
	SpecPath         = field.NewPath("spec")
	ComponentsPath   = SpecPath.Child("components")
	ImagePath        = ComponentsPath.Child("image")
	VersionPath      = ComponentsPath.Child("version")
	UpdateModePath   = ComponentsPath.Child("imageUpdateMode")
	RollingPath      = ComponentsPath.Child("enableRollingUpdate")
	MixCoordPath     = ComponentsPath.Child("mixCoord")
	MsgStreamPath    = SpecPath.Child("dependencies", "msgStreamType")
	UpSourcePath     = SpecPath.Child("sourceVersion")
	UpTargetPath     = SpecPath.Child("targetVersion")
	UpTargetImgPath  = SpecPath.Child("targetImage")
	UpNamespacePath  = SpecPath.Child("milvus", "namespace")
	UpOperationPath  = SpecPath.Child("operation")
	UpToolImagePath  = SpecPath.Child("toolImage")
	UpMaxRetryPath   = SpecPath.Child("maxRetry")
	UpRollbackIfPath = SpecPath.Child("rollbackIfFailed")
)
