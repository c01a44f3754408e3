package policy

// RuleID is a rule's stable identifier. It appears in denial messages,
// warnings, audit annotations, the policy file and docs/rules.md; never
// rename one.
type RuleID string

// Milvus rules (docs/rules.md and ../shared/upgrade-rules.md give the facts).
const (
	RuleMajor         RuleID = "MU-MAJOR"          // 1.x → 2.x is a data migration, not an image change
	RuleSource20      RuleID = "MU-SRC-20"         // 2.0.x cannot be migrated to ≥ 2.2 directly
	RuleMeta          RuleID = "MU-META"           // 2.1.x → ≥ 2.2 by image loses indexes
	RuleRolling       RuleID = "MU-ROLLING"        // from < 2.2.3 an image change means downtime
	Rule26            RuleID = "MU-26"             // 2.6 needs ≥ 2.5.16, mixCoord, same message queue, not from 2.6.0-rc
	Rule26Operator    RuleID = "MU-26-OPERATOR"    // 2.6 needs milvus-operator ≥ v1.3.0
	Rule30            RuleID = "MU-30"             // 2.6 → 3.0 validated only from 2.6.20
	RulePrerelease    RuleID = "MU-PRERELEASE"     // pre-release and nightly tags carry no upgrade guarantee
	RuleDownMode      RuleID = "MU-DOWN-MODE"      // a rolling downgrade must say rollingDowngrade
	RuleDownMeta      RuleID = "MU-DOWN-META"      // ≥ 2.2 → 2.1 only by MilvusUpgrade rollback
	RuleDownMinor     RuleID = "MU-DOWN-MINOR"     // no validated downgrade across minor versions
	RuleRollingMQ     RuleID = "MU-RU-MQ"          // rolling update unsupported outside cluster mode with rocksmq/natsmq
	RuleSplitMeta     RuleID = "MU-SPLIT-META"     // components on both sides of the 2.2 metadata boundary
	RuleTargetUnknown RuleID = "MU-TARGET-UNKNOWN" // a change to a version that cannot be verified
	RuleSourceUnknown RuleID = "MU-SOURCE-UNKNOWN" // a change from a version that cannot be verified
)

// MilvusUpgrade rules.
const (
	RuleMetaRange   RuleID = "MU-META-RANGE"   // the migration tool only does 2.1.x → 2.2.x
	RuleUpVersion   RuleID = "MU-UP-VERSION"   // sourceVersion/targetVersion must be versions
	RuleUpOrder     RuleID = "MU-UP-ORDER"     // target must be newer than source
	RuleUpNamespace RuleID = "MU-UP-NS"        // no upgrade of a Milvus in another namespace
	RuleUpSource    RuleID = "MU-UP-SRC"       // sourceVersion must be the running version
	RuleUpImmutable RuleID = "MU-UP-IMMUTABLE" // spec is frozen once the operator started
	RuleUpImage     RuleID = "MU-UP-IMAGE"     // targetImage must carry targetVersion
)

// Rules lists every rule, in the order docs and messages present them.
var Rules = []RuleID{
	RuleMajor, RuleSource20, RuleMeta, RuleRolling, Rule26, Rule26Operator, Rule30,
	RulePrerelease, RuleDownMode, RuleDownMeta, RuleDownMinor, RuleRollingMQ,
	RuleSplitMeta, RuleTargetUnknown, RuleSourceUnknown,
	RuleMetaRange, RuleUpVersion, RuleUpOrder, RuleUpNamespace, RuleUpSource,
	RuleUpImmutable, RuleUpImage,
}
