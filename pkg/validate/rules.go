package validate

import "github.com/milvus-admission/milvus-admission/pkg/policy"

// rule is one rule ID and the function that implements it: a Milvus rule or
// a MilvusUpgrade rule, never both. Default actions live in the policy
// (pkg/policy/default.yaml).
type rule struct {
	id      policy.RuleID
	milvus  func(*milvusReview) []Violation
	upgrade func(*upgradeReview) []Violation
}

// rules is every rule, in policy.Rules order. A test holds it, policy.Rules
// and docs/rules.md equal.
var rules = []rule{
	{id: policy.MuMajor, milvus: muMajor},
	{id: policy.MuSrc20, milvus: muSrc20},
	{id: policy.MuMeta, milvus: muMeta},
	{id: policy.MuMetaFailed, milvus: muMetaFailed},
	{id: policy.MuMetaBusy, milvus: muMetaBusy},
	{id: policy.MuRolling, milvus: muRolling},
	{id: policy.Mu26, milvus: mu26},
	{id: policy.Mu26Operator, milvus: mu26Operator},
	{id: policy.Mu30, milvus: mu30},
	{id: policy.MuPrerelease, milvus: muPrerelease},
	{id: policy.MuDownMode, milvus: muDownMode},
	{id: policy.MuDownMeta, milvus: muDownMeta},
	{id: policy.MuDownMinor, milvus: muDownMinor},
	{id: policy.MuRuMq, milvus: muRuMq},
	{id: policy.MuSplitMeta, milvus: muSplitMeta},
	{id: policy.MuTargetUnknown, milvus: muTargetUnknown},
	{id: policy.MuSourceUnknown, milvus: muSourceUnknown},
	{id: policy.MuIntent, milvus: muIntent},
	{id: policy.MuUpIdentity, milvus: muUpIdentity},
	{id: policy.MuMetaRange, upgrade: muMetaRange},
	{id: policy.MuUpVersion, upgrade: muUpVersion},
	{id: policy.MuUpOrder, upgrade: muUpOrder},
	{id: policy.MuUpNs, upgrade: muUpNs},
	{id: policy.MuUpSrc, upgrade: muUpSrc},
	{id: policy.MuUpImmutable, upgrade: muUpImmutable},
	{id: policy.MuUpImage, upgrade: muUpImage},
	{id: policy.MuUpOne, upgrade: muUpOne},
	{id: policy.MuUpTarget, upgrade: muUpTarget},
}
