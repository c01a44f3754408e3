// Package webhooktest builds realistic Milvus Operator objects and admission
// reviews for the benchmarks (pkg/webhook, hack/bench, hack/benchscale): a
// Milvus as a production cluster stores it — the operator's defaults in the
// spec, a populated status, the kubectl last-applied annotation and managed
// fields — rather than the few lines the unit tests need; and the
// MilvusUpgrade manifest the tests apply.
package webhooktest

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/milvus-admission/milvus-admission/pkg/milvus"
)

// Milvus is a cluster-mode Milvus with Pulsar, running image, as a user
// creates it (no server-set metadata, no status). i varies the replicas and
// resources a little, so a fleet is not one object repeated.
func Milvus(namespace, name, image string, i int) map[string]any {
	spec := milvusSpec(image, i)
	applied := map[string]any{
		"apiVersion": milvus.MilvusKind.GroupVersion().String(), "kind": milvus.MilvusKind.Kind,
		"metadata": map[string]any{"name": name, "namespace": namespace, "labels": labels(name)},
		"spec":     spec,
	}
	last, _ := json.Marshal(applied)
	return map[string]any{
		"apiVersion": milvus.MilvusKind.GroupVersion().String(), "kind": milvus.MilvusKind.Kind,
		"metadata": map[string]any{
			"name": name, "namespace": namespace, "labels": labels(name),
			"annotations": map[string]any{
				"kubectl.kubernetes.io/last-applied-configuration": string(last) + "\n",
				"milvus.io/dependency-values-merged":               "true",
				"milvus.io/pod-service-label-added":                "true",
				"milvus.io/querynode-current-group-id":             "0",
			},
			"finalizers": []any{"milvus.milvus.io/finalizer"},
		},
		"spec": milvusSpec(image, i),
	}
}

// StoredMilvus is Milvus as the API server returns it once the operator has
// rolled it out: server-set metadata, managed fields of kubectl and the
// operator, and a status saying image runs.
func StoredMilvus(namespace, name, image string, i int) map[string]any {
	m := Milvus(namespace, name, image, i)
	meta := m["metadata"].(map[string]any)
	meta["uid"] = fmt.Sprintf("6f1c2d3e-4b5a-4c6d-8e7f-%012d", i)
	meta["resourceVersion"] = fmt.Sprint(100000 + i)
	meta["generation"] = int64(3)
	meta["creationTimestamp"] = "2026-10-02T09:14:07Z"
	meta["managedFields"] = managedFields()
	m["status"] = Status(image, i)
	return m
}

// Status is the status the operator writes for a healthy cluster running image.
func Status(image string, i int) map[string]any {
	version := image[strings.LastIndex(image, ":")+1:]
	deploy := map[string]any{}
	for _, c := range []string{"proxy", "mixcoord", "querynode", "datanode", "indexnode"} {
		n := int64(1 + i%3)
		deploy[c] = map[string]any{
			"generation": int64(2), "image": image,
			"status": map[string]any{
				"availableReplicas": n, "readyReplicas": n, "replicas": n, "updatedReplicas": n, "observedGeneration": int64(2),
				"conditions": []any{
					condition("Available", "True", "MinimumReplicasAvailable", "Deployment has minimum availability."),
					condition("Progressing", "True", "NewReplicaSetAvailable", fmt.Sprintf(`ReplicaSet "%s-milvus-%s-7d9c8b6f5" has successfully progressed.`, "db", c)),
				},
			},
		}
	}
	return map[string]any{
		"status":             "Healthy",
		"observedGeneration": int64(3),
		"currentImage":       image,
		"currentVersion":     version,
		"rollingModeVersion": int64(2),
		"endpoint":           fmt.Sprintf("db-%d-milvus.tenant.svc:19530", i),
		"ingress":            map[string]any{"loadBalancer": map[string]any{}},
		"conditions": []any{
			condition("EtcdReady", "True", "EtcdReady", "All etcd endpoints are healthy"),
			condition("StorageReady", "True", "StorageReady", ""),
			condition("MsgStreamReady", "True", "MsgStreamReady", "MsgStream is ready"),
			condition("MilvusReady", "True", "ReasonMilvusHealthy", "All Milvus components are healthy"),
			condition("MilvusUpdated", "True", "MilvusComponentsUpdated", "Milvus components are all updated"),
		},
		"componentsDeployStatus": deploy,
	}
}

func condition(typ, status, reason, message string) map[string]any {
	c := map[string]any{"type": typ, "status": status, "reason": reason, "lastTransitionTime": "2026-10-02T09:21:40Z"}
	if message != "" {
		c["message"] = message
	}
	return c
}

func labels(name string) map[string]any {
	return map[string]any{"app": "milvus", "app.kubernetes.io/instance": name, "team": "search-platform"}
}

func resources(cpu, mem string) map[string]any {
	return map[string]any{
		"limits":   map[string]any{"cpu": cpu, "memory": mem},
		"requests": map[string]any{"cpu": cpu, "memory": mem},
	}
}

func milvusSpec(image string, i int) map[string]any {
	replicas := func(n int) int64 { return int64(1 + (i+n)%3) }
	return map[string]any{
		"mode": milvus.ModeCluster,
		"components": map[string]any{
			"image":               image,
			"imageUpdateMode":     milvus.UpdateModeRollingUpgrade,
			"enableRollingUpdate": true,
			"imagePullPolicy":     "IfNotPresent",
			"rollingMode":         int64(2),
			"disableMetric":       false,
			"metricInterval":      "30s",
			"podLabels":           map[string]any{"team": "search-platform"},
			"nodeSelector":        map[string]any{"node.kubernetes.io/pool": "milvus"},
			"tolerations": []any{map[string]any{
				"key": "dedicated", "operator": "Equal", "value": "milvus", "effect": "NoSchedule",
			}},
			"resources": resources("1", "2Gi"),
			"env":       []any{map[string]any{"name": "MILVUS_LOG_FORMAT", "value": "json"}},
			"proxy": map[string]any{
				"replicas": replicas(0), "serviceType": "ClusterIP", "resources": resources("2", "4Gi"),
				"serviceAnnotations": map[string]any{"service.beta.kubernetes.io/aws-load-balancer-internal": "true"},
			},
			"mixCoord":  map[string]any{"replicas": int64(1), "resources": resources("1", "4Gi")},
			"queryNode": map[string]any{"replicas": replicas(1), "resources": resources("4", "16Gi")},
			"dataNode":  map[string]any{"replicas": replicas(2), "resources": resources("2", "8Gi")},
			"indexNode": map[string]any{"replicas": replicas(0), "resources": resources("4", "8Gi")},
		},
		"dependencies": map[string]any{
			"msgStreamType": "pulsar",
			"etcd": map[string]any{
				"endpoints": []any{"db-etcd-0.db-etcd-headless:2379", "db-etcd-1.db-etcd-headless:2379", "db-etcd-2.db-etcd-headless:2379"},
				"inCluster": map[string]any{
					"deletionPolicy": "Retain", "pvcDeletion": false,
					"values": map[string]any{
						"replicaCount": int64(3), "autoCompactionMode": "revision", "autoCompactionRetention": "1000",
						"persistence": map[string]any{"enabled": true, "size": "10Gi", "storageClass": "gp3"},
						"resources":   resources("500m", "1Gi"),
						"extraEnvVars": []any{
							map[string]any{"name": "ETCD_QUOTA_BACKEND_BYTES", "value": "4294967296"},
							map[string]any{"name": "ETCD_SNAPSHOT_COUNT", "value": "50000"},
						},
					},
				},
			},
			"storage": map[string]any{
				"type": "MinIO", "endpoint": "db-minio.tenant.svc:9000", "secretRef": "db-minio",
				"inCluster": map[string]any{
					"deletionPolicy": "Retain", "pvcDeletion": false,
					"values": map[string]any{
						"mode": "distributed", "replicas": int64(4),
						"persistence": map[string]any{"enabled": true, "size": "500Gi", "storageClass": "gp3"},
						"resources":   resources("1", "4Gi"),
					},
				},
			},
			"pulsar": map[string]any{
				"endpoint": "db-pulsar-proxy.tenant.svc:6650",
				"inCluster": map[string]any{
					"deletionPolicy": "Retain", "pvcDeletion": false,
					"values": map[string]any{
						"components":   map[string]any{"autorecovery": true, "bookkeeper": true, "broker": true, "proxy": true, "zookeeper": true, "pulsar_manager": false},
						"zookeeper":    map[string]any{"replicaCount": int64(3), "resources": resources("300m", "1Gi"), "volumes": map[string]any{"data": map[string]any{"size": "20Gi"}}},
						"bookkeeper":   map[string]any{"replicaCount": int64(3), "resources": resources("1", "4Gi"), "volumes": map[string]any{"journal": map[string]any{"size": "100Gi"}, "ledgers": map[string]any{"size": "200Gi"}}},
						"broker":       map[string]any{"replicaCount": int64(2), "resources": resources("1", "4Gi"), "configData": map[string]any{"backlogQuotaDefaultLimitGB": "8", "defaultRetentionTimeInMinutes": "10080"}},
						"proxy":        map[string]any{"replicaCount": int64(2), "resources": resources("500m", "1Gi")},
						"autorecovery": map[string]any{"resources": resources("100m", "512Mi")},
					},
				},
			},
		},
		"config": map[string]any{
			"log":       map[string]any{"level": "info", "format": "json"},
			"common":    map[string]any{"retentionDuration": int64(432000), "security": map[string]any{"authorizationEnabled": true}},
			"dataCoord": map[string]any{"segment": map[string]any{"maxSize": int64(1024), "sealProportion": 0.12}},
			"queryNode": map[string]any{"cache": map[string]any{"enabled": true, "memoryLimit": "12Gi"}},
			"proxy":     map[string]any{"maxTaskNum": int64(1024), "http": map[string]any{"enabled": true}},
		},
	}
}

// managedFields are those of a Milvus applied with kubectl and defaulted and
// rolled out by the operator.
func managedFields() []any {
	entry := func(manager, operation, subresource string, fields map[string]any) map[string]any {
		e := map[string]any{
			"manager": manager, "operation": operation, "apiVersion": "milvus.io/v1beta1",
			"time": "2026-10-02T09:21:40Z", "fieldsType": "FieldsV1", "fieldsV1": fields,
		}
		if subresource != "" {
			e["subresource"] = subresource
		}
		return e
	}
	leaf := map[string]any{}
	set := func(keys ...string) map[string]any {
		m := map[string]any{".": leaf}
		for _, k := range keys {
			m["f:"+k] = leaf
		}
		return m
	}
	comp := func() map[string]any {
		return map[string]any{".": leaf, "f:replicas": leaf, "f:resources": map[string]any{".": leaf, "f:limits": set("cpu", "memory"), "f:requests": set("cpu", "memory")}}
	}
	values := func() map[string]any {
		return map[string]any{".": leaf, "f:deletionPolicy": leaf, "f:pvcDeletion": leaf, "f:values": leaf}
	}
	kubectl := map[string]any{
		"f:metadata": map[string]any{
			"f:annotations": set("kubectl.kubernetes.io/last-applied-configuration"),
			"f:labels":      set("app", "app.kubernetes.io/instance", "team"),
		},
		"f:spec": map[string]any{
			".": leaf, "f:mode": leaf, "f:config": leaf,
			"f:components": map[string]any{
				".": leaf, "f:image": leaf, "f:enableRollingUpdate": leaf, "f:imagePullPolicy": leaf, "f:rollingMode": leaf,
				"f:disableMetric": leaf, "f:metricInterval": leaf, "f:podLabels": set("team"), "f:nodeSelector": set("node.kubernetes.io/pool"),
				"f:tolerations": leaf, "f:env": leaf, "f:resources": comp()["f:resources"],
				"f:proxy": comp(), "f:mixCoord": comp(), "f:queryNode": comp(), "f:dataNode": comp(), "f:indexNode": comp(),
			},
			"f:dependencies": map[string]any{
				".": leaf, "f:msgStreamType": leaf,
				"f:etcd":    map[string]any{".": leaf, "f:inCluster": values()},
				"f:storage": map[string]any{".": leaf, "f:type": leaf, "f:inCluster": values()},
				"f:pulsar":  map[string]any{".": leaf, "f:inCluster": values()},
			},
		},
	}
	operator := map[string]any{
		"f:metadata": map[string]any{
			"f:annotations": set("milvus.io/dependency-values-merged", "milvus.io/pod-service-label-added", "milvus.io/querynode-current-group-id"),
			"f:finalizers":  map[string]any{".": leaf, `v:"milvus.milvus.io/finalizer"`: leaf},
		},
		"f:spec": map[string]any{
			"f:components": map[string]any{"f:imageUpdateMode": leaf},
			"f:dependencies": map[string]any{
				"f:etcd":    map[string]any{"f:endpoints": leaf},
				"f:storage": map[string]any{"f:endpoint": leaf, "f:secretRef": leaf},
				"f:pulsar":  map[string]any{"f:endpoint": leaf},
			},
		},
	}
	status := map[string]any{
		"f:status": map[string]any{
			".": leaf, "f:status": leaf, "f:observedGeneration": leaf, "f:currentImage": leaf, "f:currentVersion": leaf,
			"f:rollingModeVersion": leaf, "f:endpoint": leaf, "f:ingress": set("loadBalancer"), "f:conditions": leaf,
			"f:componentsDeployStatus": set("proxy", "mixcoord", "querynode", "datanode", "indexnode"),
		},
	}
	return []any{
		entry("kubectl-client-side-apply", "Update", "", kubectl),
		entry("manager", "Update", "", operator),
		entry("manager", "Update", "status", status),
	}
}

// MilvusUpgrade is a MilvusUpgrade of the Milvus named target, as a user
// creates it.
func MilvusUpgrade(namespace, name, target string) map[string]any {
	return map[string]any{
		"apiVersion": milvus.MilvusUpgradeKind.GroupVersion().String(), "kind": milvus.MilvusUpgradeKind.Kind,
		"metadata": map[string]any{"name": name, "namespace": namespace, "labels": map[string]any{"team": "search-platform"}},
		"spec": map[string]any{
			"milvus":        map[string]any{"name": target, "namespace": namespace},
			"sourceVersion": "v2.1.4", "targetVersion": "v2.2.16", "targetImage": "milvusdb/milvus:v2.2.16",
			"toolImage": "milvusdb/meta-migration:v2.2.0", "operation": milvus.OperationUpgrade,
			"maxRetry": int64(3), "rollbackIfFailed": true,
		},
	}
}

// UpdateReview is the AdmissionReview the API server sends for an UPDATE of a
// Milvus by user from oldImage to newImage: both objects are StoredMilvus,
// the new one with the image changed (and, like the API server sends it
// before storing, the same resourceVersion).
func UpdateReview(namespace, name, oldImage, newImage, user string) []byte {
	old := StoredMilvus(namespace, name, oldImage, 1)
	cur := StoredMilvus(namespace, name, oldImage, 1)
	components := cur["spec"].(map[string]any)["components"].(map[string]any)
	components["image"] = newImage
	review := map[string]any{
		"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
		"request": map[string]any{
			"uid":             "705ab4f5-6393-11e8-b7cc-42010a800002",
			"kind":            map[string]any{"group": milvus.Group, "version": milvus.APIVersion, "kind": milvus.MilvusKind.Kind},
			"resource":        map[string]any{"group": milvus.Group, "version": milvus.APIVersion, "resource": "milvuses"},
			"requestKind":     map[string]any{"group": milvus.Group, "version": milvus.APIVersion, "kind": milvus.MilvusKind.Kind},
			"requestResource": map[string]any{"group": milvus.Group, "version": milvus.APIVersion, "resource": "milvuses"},
			"name":            name, "namespace": namespace, "operation": "UPDATE",
			"userInfo": map[string]any{"username": user, "uid": "014fbff9a07c", "groups": []any{"system:authenticated", "platform-admins"}},
			"object":   cur, "oldObject": old, "dryRun": false,
			"options": map[string]any{"apiVersion": "meta.k8s.io/v1", "kind": "UpdateOptions", "fieldManager": "kubectl-edit", "fieldValidation": "Strict"},
		},
	}
	data, err := json.Marshal(review)
	if err != nil {
		panic(err) // only maps of JSON values
	}
	return data
}

// UpgradeManifest is a MilvusUpgrade as a user writes it (the seed
// document's fields; the defaulting webhook adds the rest): YAML, as the
// tests apply it with kubectl or judge it with check.
func UpgradeManifest(name, milvusName, source, target string) []byte {
	return fmt.Appendf(nil, `apiVersion: milvus.io/v1beta1
kind: MilvusUpgrade
metadata:
  name: %s
spec:
  milvus:
    name: %s
  sourceVersion: %s
  targetVersion: %s
`, name, milvusName, source, target)
}
