package policy

import "github.com/milvus-admission/milvus-admission/pkg/milvus"

// RuleID is a rule's stable identifier. It appears in denial messages,
// warnings, audit annotations, the policy file and docs/rules.md; never
// rename one.
//
// Go names follow the ID mechanically: each dash-separated word capitalised,
// so MU-SRC-20 is the constant MuSrc20 and the function validate.muSrc20.
type RuleID string

// Milvus rules (docs/rules.md and ../shared/upgrade-rules.md give the facts).
const (
	MuMajor         RuleID = "MU-MAJOR"          // 1.x → 2.x is a data migration, not an image change
	MuSrc20         RuleID = "MU-SRC-20"         // 2.0.x cannot be migrated to ≥ 2.2 directly
	MuMeta          RuleID = "MU-META"           // 2.1.x → ≥ 2.2 by image loses indexes
	MuMetaFailed    RuleID = "MU-META-FAILED"    // the MilvusUpgrade planned for this change failed
	MuMetaBusy      RuleID = "MU-META-BUSY"      // another MilvusUpgrade is at work on this Milvus
	MuRolling       RuleID = "MU-ROLLING"        // from < 2.2.3 an image change means downtime
	Mu26            RuleID = "MU-26"             // 2.6 needs ≥ 2.5.16, mixCoord, same message queue, not from 2.6.0-rc
	Mu26Operator    RuleID = "MU-26-OPERATOR"    // 2.6 needs milvus-operator ≥ v1.3.0
	Mu30            RuleID = "MU-30"             // 2.6 → 3.0 validated only from 2.6.20
	MuPrerelease    RuleID = "MU-PRERELEASE"     // pre-release and nightly tags carry no upgrade guarantee
	MuDownMode      RuleID = "MU-DOWN-MODE"      // a rolling downgrade must say rollingDowngrade
	MuDownMeta      RuleID = "MU-DOWN-META"      // ≥ 2.2 → 2.1 only by MilvusUpgrade rollback
	MuDownMinor     RuleID = "MU-DOWN-MINOR"     // no validated downgrade across minor versions
	MuRuMq          RuleID = "MU-RU-MQ"          // rolling update unsupported outside cluster mode with rocksmq/natsmq
	MuSplitMeta     RuleID = "MU-SPLIT-META"     // components on both sides of the 2.2 metadata boundary
	MuTargetUnknown RuleID = "MU-TARGET-UNKNOWN" // a change to a version that cannot be verified
	MuSourceUnknown RuleID = "MU-SOURCE-UNKNOWN" // a change from a version that cannot be verified
	MuIntent        RuleID = "MU-INTENT"         // only the webhook's hold sets or changes the generation intent
	MuUpIdentity    RuleID = "MU-UP-IDENTITY"    // the operator's hand-off written by an identity the policy does not list
)

// MilvusUpgrade rules.
const (
	MuMetaRange   RuleID = "MU-META-RANGE"   // the migration tool only does 2.1.x → 2.2.x
	MuUpVersion   RuleID = "MU-UP-VERSION"   // sourceVersion/targetVersion must be versions
	MuUpOrder     RuleID = "MU-UP-ORDER"     // target must be newer than source
	MuUpNs        RuleID = "MU-UP-NS"        // no upgrade of a Milvus in another namespace
	MuUpSrc       RuleID = "MU-UP-SRC"       // sourceVersion must be the running version
	MuUpImmutable RuleID = "MU-UP-IMMUTABLE" // spec is frozen once the operator started
	MuUpImage     RuleID = "MU-UP-IMAGE"     // targetImage must carry targetVersion
	MuUpOne       RuleID = "MU-UP-ONE"       // at most one unfinished MilvusUpgrade per Milvus
	MuUpTarget    RuleID = "MU-UP-TARGET"    // the Milvus named does not exist (yet)
)

// Rules lists every rule, in the order docs and messages present them.
// validate.Rules maps each to the function that implements it.
var Rules = []RuleID{
	MuMajor, MuSrc20, MuMeta, MuMetaFailed, MuMetaBusy, MuRolling, Mu26, Mu26Operator, Mu30,
	MuPrerelease, MuDownMode, MuDownMeta, MuDownMinor, MuRuMq,
	MuSplitMeta, MuTargetUnknown, MuSourceUnknown, MuIntent, MuUpIdentity,
	MuMetaRange, MuUpVersion, MuUpOrder, MuUpNs, MuUpSrc,
	MuUpImmutable, MuUpImage, MuUpOne, MuUpTarget,
}

// gateWaypoints are the gates: rules that require a version to run before
// their change (MU-26: 2.5.16 before 2.6; MU-30: 2.6.20 before 3.x). Only a
// gate takes the stage action, which sets the change at this waypoint first.
var gateWaypoints = map[RuleID]milvus.Version{
	Mu26: milvus.MustVersion("v2.5.16"),
	Mu30: milvus.MustVersion("v2.6.20"),
}

// GateWaypoint is the version gate id requires first; ok is false for a
// rule that is no gate.
func GateWaypoint(id RuleID) (waypoint milvus.Version, ok bool) {
	waypoint, ok = gateWaypoints[id]
	return waypoint, ok
}

// Gates lists the rules with a waypoint, in Rules order.
func Gates() []RuleID {
	var out []RuleID
	for _, id := range Rules {
		if _, ok := gateWaypoints[id]; ok {
			out = append(out, id)
		}
	}
	return out
}
