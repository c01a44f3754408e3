package e2e

import (
	"crypto/tls"
	"fmt"
	"math/big"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/milvus-admission/milvus-admission/pkg/webhook/webhooktest"
)

// servedSerial is the serial number of the certificate the webhook serves
// to a new connection.
func servedSerial(t *testing.T) *big.Int {
	t.Helper()
	// Only the certificate is compared here; the API server verifies the chain.
	conn, err := tls.Dial("tcp", strings.TrimPrefix(env.WebhookURL, "https://"), &tls.Config{InsecureSkipVerify: true}) //nolint:gosec
	require.NoError(t, err)
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber
}

// cert-manager renews the serving Secret and the kubelet updates the mounted
// files: the running webhook picks up the new tls.crt and tls.key without a
// restart, and the API server keeps getting answers.
func TestServingCertificateIsReloaded(t *testing.T) {
	before := servedSerial(t)
	rotated, err := env.RotateServingCert()
	require.NoError(t, err)
	require.NotEqual(t, before, rotated)

	eventually(t, "the webhook serves the renewed certificate", func() error {
		if got := servedSerial(t); got.Cmp(rotated) != 0 {
			return fmt.Errorf("still serving serial %v, want %v", got, rotated)
		}
		return nil
	})
	ns := newNamespace(t)
	out, _ := kubectl(t, webhooktest.UpgradeManifest("probe", "my-release", "v2.1.4", "v2.2.16"), "-n", ns,
		"create", "--dry-run=server", "-f", "-", "-o", "jsonpath={.spec.toolImage}")
	assert.Equal(t, "milvusdb/meta-migration:v2.2.0", out, "the API server still reaches the webhook")
}
