package cluster

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"
)

// testCA signs the webhook's serving certificates for 127.0.0.1/localhost.
type testCA struct {
	cert   *x509.Certificate
	key    *ecdsa.PrivateKey
	pem    []byte // for caBundle
	serial atomic.Int64
}

func newTestCA() (*testCA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "milvus-admission e2e CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	ca := &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
	ca.serial.Store(1)
	return ca, nil
}

// issue writes a fresh key and serving certificate as tls.crt and tls.key in
// dir, each replaced atomically (written aside, then renamed), as a kubelet
// updates a mounted Secret. It returns the certificate's serial number.
func (ca *testCA) issue(dir string) (*big.Int, error) {
	serial, certPEM, keyPEM, err := ca.leaf(&x509.Certificate{
		Subject:     pkix.Name{CommonName: "milvus-admission-webhook"},
		DNSNames:    []string{"localhost"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	if err != nil {
		return nil, err
	}
	if err := writeFiles(dir, map[string][]byte{"tls.key": keyPEM, "tls.crt": certPEM}); err != nil {
		return nil, err
	}
	return serial, nil
}

// issueClient returns a client certificate for the user cn and its key, PEM.
func (ca *testCA) issueClient(cn string) (certPEM, keyPEM []byte, err error) {
	_, certPEM, keyPEM, err = ca.leaf(&x509.Certificate{
		Subject:     pkix.Name{CommonName: cn},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	return certPEM, keyPEM, err
}

// leaf signs a certificate of tmpl's names and usages for a fresh key.
func (ca *testCA) leaf(tmpl *x509.Certificate) (serial *big.Int, certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, err
	}
	now := time.Now()
	serial = big.NewInt(ca.serial.Add(1))
	tmpl.SerialNumber = serial
	tmpl.NotBefore, tmpl.NotAfter = now.Add(-time.Hour), now.Add(24*time.Hour)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return nil, nil, nil, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, nil, err
	}
	return serial, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), nil
}

// writeFiles writes each file into dir atomically: written aside, then
// renamed.
func writeFiles(dir string, files map[string][]byte) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for name, data := range files {
		tmp := filepath.Join(dir, "."+name+".tmp")
		if err := os.WriteFile(tmp, data, 0o600); err != nil {
			return err
		}
		if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
			return err
		}
	}
	return nil
}

// admissionConfig is the AdmissionConfiguration that gives the API server a
// client certificate for webhooks: both webhook admission plugins read the
// kubeconfig %[1]s, whose user is chosen by the webhook's host.
const admissionConfig = `apiVersion: apiserver.config.k8s.io/v1
kind: AdmissionConfiguration
plugins:
  - name: ValidatingAdmissionWebhook
    configuration:
      apiVersion: apiserver.config.k8s.io/v1
      kind: WebhookAdmissionConfiguration
      kubeConfigFile: %[1]s
  - name: MutatingAdmissionWebhook
    configuration:
      apiVersion: apiserver.config.k8s.io/v1
      kind: WebhookAdmissionConfiguration
      kubeConfigFile: %[1]s
`

// admissionKubeconfig names the webhook's host:port as the user whose
// client certificate the API server presents to webhooks there.
const admissionKubeconfig = `apiVersion: v1
kind: Config
users:
  - name: %q
    user:
      client-certificate: %s
      client-key: %s
`

// writeWebhookClientAuth creates a client CA, a client certificate
// "kube-apiserver" signed by it, and the AdmissionConfiguration that makes
// the API server present it to webhooks at hostPort.
func (c *Cluster) writeWebhookClientAuth(hostPort string) error {
	ca, err := newTestCA()
	if err != nil {
		return err
	}
	certPEM, keyPEM, err := ca.issueClient("kube-apiserver")
	if err != nil {
		return err
	}
	dir := filepath.Join(c.Dir, "webhook-client-auth")
	c.ClientCAFile = filepath.Join(dir, "client-ca.crt")
	c.WebhookClientCert = filepath.Join(dir, "client.crt")
	c.WebhookClientKey = filepath.Join(dir, "client.key")
	c.AdmissionConfigFile = filepath.Join(dir, "admission-config.yaml")
	kubeconfig := filepath.Join(dir, "admission-kubeconfig.yaml")
	return writeFiles(dir, map[string][]byte{
		"client-ca.crt":             ca.pem,
		"client.crt":                certPEM,
		"client.key":                keyPEM,
		"admission-kubeconfig.yaml": fmt.Appendf(nil, admissionKubeconfig, hostPort, c.WebhookClientCert, c.WebhookClientKey),
		"admission-config.yaml":     fmt.Appendf(nil, admissionConfig, kubeconfig),
	})
}
