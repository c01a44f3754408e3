package migration

import (
	"fmt"

	"github.com/milvus-admission/milvus-admission/pkg/milvus"
	"github.com/milvus-admission/milvus-admission/pkg/policy"
)

// Annotations of a staged change (policy action stage), recorded on the
// Milvus by the defaulting webhook. They are the hold's counterpart for a
// gate: nothing but the webhook reads them (the controller acts on the
// hold's intent only), and GitOps health checks show them.
const (
	// AnnotationStagedAt is the gate's waypoint the image is set at.
	AnnotationStagedAt = prefix + "staged-at"
	// AnnotationStageTargetImage is the image git asked for: where the
	// stage converges to.
	AnnotationStageTargetImage = prefix + "stage-target-image"
	// AnnotationStageTargetVersion is spec.components.version as asked, when set.
	AnnotationStageTargetVersion = prefix + "stage-target-version"
)

// StageAnnotations lists every annotation of a stage.
var StageAnnotations = []string{AnnotationStagedAt, AnnotationStageTargetImage, AnnotationStageTargetVersion}

// Stage is a gated upgrade set at the gate's waypoint: the defaulting
// webhook writes Image and Version instead of the requested ones, and the
// next sync of the same manifest moves on once the waypoint runs healthy.
type Stage struct {
	// Rule is the gate (policy.GateWaypoint) whose waypoint this is.
	Rule policy.RuleID
	// Waypoint is the version staged; Target the version asked for.
	Waypoint, Target milvus.Version
	// Image and Version are the global image and version set.
	Image, Version string
	// RequestedImage and RequestedVersion are what the update asked for.
	RequestedImage, RequestedVersion string
}

// Annotations is the stage to record on the Milvus.
func (s *Stage) Annotations() map[string]string {
	a := map[string]string{
		AnnotationStagedAt:         s.Waypoint.Tag(),
		AnnotationStageTargetImage: s.RequestedImage,
	}
	if s.RequestedVersion != "" {
		a[AnnotationStageTargetVersion] = s.RequestedVersion
	}
	return a
}

// Field is the field the stage changes, for its warning: the version field
// wins when set.
func (s *Stage) Field() string {
	if s.RequestedVersion != "" {
		return milvus.VersionPath.String()
	}
	return milvus.ImagePath.String()
}

// Note says what happens next, in a few words.
func (s *Stage) Note() string {
	return fmt.Sprintf("staged at %s; %s follows once %s runs healthy", s.Waypoint.Tag(), s.Target.Tag(), s.Waypoint.Tag())
}

// StageIntent is what a stored Milvus's stage annotations say.
type StageIntent struct {
	Waypoint                         milvus.Version
	RequestedImage, RequestedVersion string
}

// Asks reports that m asks for what the stage converges to.
func (in StageIntent) Asks(m *milvus.Milvus) bool {
	return m.Spec.Components.Image == in.RequestedImage && m.Spec.Components.Version == in.RequestedVersion
}

// StageIntentOf reads the stage annotations of m; ok is false when it has
// none, err when the waypoint does not parse.
func StageIntentOf(m *milvus.Milvus) (in StageIntent, ok bool, err error) {
	if m == nil {
		return StageIntent{}, false, nil
	}
	at, staged := m.Annotations[AnnotationStagedAt]
	if !staged {
		return StageIntent{}, false, nil
	}
	in.RequestedImage, in.RequestedVersion = m.Annotations[AnnotationStageTargetImage], m.Annotations[AnnotationStageTargetVersion]
	if in.Waypoint, err = milvus.ParseVersion(at); err != nil {
		return StageIntent{}, true, fmt.Errorf("annotation %s: %w", AnnotationStagedAt, err)
	}
	return in, true, nil
}

// StageEnds reports that the stage old records ends with the update old →
// cur, which is not staged itself: the update changes the global image or
// version (it moves on to the target, or git asks for something else), or
// an apply no longer asks for the target (git went back to the waypoint; see
// revertedInGit). Any other write (a label, the operator's) keeps it.
func StageEnds(old, cur *milvus.Milvus, applier string) bool {
	in, ok, _ := StageIntentOf(old)
	if !ok {
		return false
	}
	if old.Spec.Components.Image != cur.Spec.Components.Image || old.Spec.Components.Version != cur.Spec.Components.Version {
		return true
	}
	return revertedInGit(old, cur, Intent{RequestedImage: in.RequestedImage, RequestedVersion: in.RequestedVersion}, applier)
}
