package cluster

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/yaml"
)

// ShippedEnv is the environment the shipped Deployment
// (manifests/deployment.yaml) gives the webhook container, as NAME=value:
// the Go runtime's memory settings among them. Every webhook process the
// harness starts runs with it, so that what tests and benchmarks measure is
// the process as it ships.
func ShippedEnv() ([]string, error) {
	shippedEnv.once.Do(func() { shippedEnv.env, shippedEnv.err = readShippedEnv() })
	return shippedEnv.env, shippedEnv.err
}

var shippedEnv struct {
	once sync.Once
	env  []string
	err  error
}

func readShippedEnv() ([]string, error) {
	path := filepath.Join(RepoRoot(), "manifests", "deployment.yaml")
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var d appsv1.Deployment
	if err := yaml.Unmarshal(data, &d); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	for _, c := range d.Spec.Template.Spec.Containers {
		if c.Name != "webhook" {
			continue
		}
		var env []string
		for _, e := range c.Env {
			if e.ValueFrom != nil {
				return nil, fmt.Errorf("%s: env %s comes from the cluster (valueFrom); give the harness its value", path, e.Name)
			}
			env = append(env, e.Name+"="+e.Value)
		}
		return env, nil
	}
	return nil, fmt.Errorf("%s has no container named webhook", path)
}

// ProcessEnv is the environment of a webhook process: the harness's own
// with the shipped one on top, then extra.
func ProcessEnv(extra ...string) ([]string, error) {
	shipped, err := ShippedEnv()
	if err != nil {
		return nil, err
	}
	return append(append(os.Environ(), shipped...), extra...), nil
}
