package ha

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/milvus-admission/milvus-admission/internal/cluster"
)

// The API server presents a client certificate to the webhooks (an
// AdmissionConfiguration whose WebhookAdmissionConfiguration kubeconfig
// names the webhook host), and the webhook started with --client-ca-file
// answers only clients that present one its CA signed.
func TestClientCertificateRequired(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	// A control plane of its own: the API server reads its
	// AdmissionConfiguration only at start.
	c, err := cluster.StartHA(ctx, cluster.HAOptions{Replicas: 1, ClientCert: true, WebhookArgs: []string{"--shutdown-drain=1s"}})
	require.NoError(t, err, "StartHA waits until the API server's reviews are answered")
	t.Cleanup(func() { assert.NoError(t, c.Stop()) })
	for _, f := range []string{c.AdmissionConfigFile, strings.Replace(c.AdmissionConfigFile, "admission-config.yaml", "admission-kubeconfig.yaml", 1)} {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		t.Logf("%s:\n%s", f, data)
	}

	// Admission works: the API server's write is defaulted by the webhook.
	out, stderr, err := c.Kubectl(ctx, milvusManifest{name: "my-release", image: repo + "v2.4.23"}.yaml(),
		"-n", "default", "apply", "-f", "-", "-o", "jsonpath={.spec.components.imageUpdateMode}")
	require.NoError(t, err, stderr)
	assert.Equal(t, "rollingUpgrade", out)

	roots := x509.NewCertPool()
	require.True(t, roots.AppendCertsFromPEM(c.ServingCA()))
	apiServerCert, err := tls.LoadX509KeyPair(c.WebhookClientCert, c.WebhookClientKey)
	require.NoError(t, err)
	for what, addr := range map[string]string{"the replica": c.ReplicaAddr(0), "the Service address": strings.TrimPrefix(c.WebhookURL, "https://")} {
		t.Run("a review without a client certificate is refused at "+what, func(t *testing.T) {
			_, err := postReview(t, addr, roots, nil)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "tls: certificate required")
		})
		t.Run("a review with the API server's client certificate is answered at "+what, func(t *testing.T) {
			resp, err := postReview(t, addr, roots, &apiServerCert)
			requireDefaulted(t, resp, err)
		})
	}
	// The webhook logged the refused handshakes.
	require.NoError(t, wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
		return strings.Contains(c.ReplicaLog(0), "client didn't provide a certificate"), nil
	}), "replica log:\n%s", c.LogTail(20))
}
