package milvus

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestComponentsGlobal(t *testing.T) {
	tests := []struct {
		name       string
		c          Component
		wantPath   string
		wantDecl   string
		wantImage  string
		wantShort  string // empty: unknown
		wantReason string
	}{
		{
			name:     "version from the image tag",
			c:        Component{Image: "milvusdb/milvus:v2.4.23"},
			wantPath: "spec.components.image", wantDecl: "milvusdb/milvus:v2.4.23",
			wantImage: "milvusdb/milvus:v2.4.23", wantShort: "2.4.23",
		},
		{
			name:     "version field wins over the tag",
			c:        Component{Image: "milvusdb/milvus:v2.4.23", Version: "2.5.11"},
			wantPath: "spec.components.version", wantDecl: "2.5.11",
			wantImage: "milvusdb/milvus:v2.4.23", wantShort: "2.5.11",
		},
		{
			name:     "version field makes latest verifiable",
			c:        Component{Image: "milvusdb/milvus:latest", Version: "v2.5.11"},
			wantPath: "spec.components.version", wantDecl: "v2.5.11",
			wantImage: "milvusdb/milvus:latest", wantShort: "2.5.11",
		},
		{
			name:     "registry with port",
			c:        Component{Image: "10.20.12.8:5000/milvusdb/milvus:v2.6.0"},
			wantPath: "spec.components.image", wantDecl: "10.20.12.8:5000/milvusdb/milvus:v2.6.0",
			wantImage: "10.20.12.8:5000/milvusdb/milvus:v2.6.0", wantShort: "2.6.0",
		},
		{
			name:       "unknown: no image",
			c:          Component{},
			wantPath:   "spec.components.image",
			wantReason: "no image is set",
		},
		{
			name:     "unknown: latest",
			c:        Component{Image: "milvusdb/milvus:latest"},
			wantPath: "spec.components.image", wantDecl: "milvusdb/milvus:latest",
			wantImage: "milvusdb/milvus:latest", wantReason: "names no verifiable version",
		},
		{
			name:     "unknown: digest only",
			c:        Component{Image: "milvusdb/milvus@" + testDigest},
			wantPath: "spec.components.image", wantDecl: "milvusdb/milvus@" + testDigest,
			wantImage: "milvusdb/milvus@" + testDigest, wantReason: "pinned by digest only",
		},
		{
			name:     "unknown: malformed image",
			c:        Component{Image: "milvusdb/milvus:"},
			wantPath: "spec.components.image", wantDecl: "milvusdb/milvus:",
			wantImage: "milvusdb/milvus:", wantReason: "malformed tag",
		},
		{
			name:     "unknown: malformed version field names the field",
			c:        Component{Image: "milvusdb/milvus:v2.4.23", Version: "2.5"},
			wantPath: "spec.components.version", wantDecl: "2.5",
			wantImage: "milvusdb/milvus:v2.4.23", wantReason: "spec.components.version: version \"2.5\" has no patch number",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Components{Component: tt.c}
			r := c.Global()
			assert.Equal(t, tt.wantPath, r.Path.String(), "Path")
			assert.Equal(t, tt.wantDecl, r.Declared, "Declared")
			assert.Equal(t, tt.wantImage, r.Image, "Image")
			if tt.wantShort == "" {
				assert.False(t, r.Known())
				assert.Contains(t, r.Reason, tt.wantReason)
				return
			}
			require.True(t, r.Known(), "reason: %s", r.Reason)
			assert.Empty(t, r.Reason)
			assert.Equal(t, tt.wantShort, r.Version.Short())
		})
	}
}

func TestComponentsEffective(t *testing.T) {
	type want struct {
		name      string
		inherited bool
		path      string
		declared  string
		image     string
		short     string // empty: unknown
		reason    string
	}
	tests := []struct {
		name string
		c    Components
		want []want
	}{
		{
			name: "no component blocks",
			c:    Components{Component: Component{Image: "milvusdb/milvus:v2.4.23"}},
			want: nil,
		},
		{
			name: "component overrides the image",
			c: Components{
				Component: Component{Image: "milvusdb/milvus:v2.4.23"},
				Proxy:     &Component{Image: "harbor.example.com/milvusdb/milvus:v2.5.11"},
			},
			want: []want{{
				name: "proxy", path: "spec.components.proxy.image",
				declared: "harbor.example.com/milvusdb/milvus:v2.5.11",
				image:    "harbor.example.com/milvusdb/milvus:v2.5.11", short: "2.5.11",
			}},
		},
		{
			name: "empty component block inherits the global",
			c: Components{
				Component: Component{Image: "milvusdb/milvus:v2.4.23", Version: "2.4.23"},
				QueryNode: &Component{},
			},
			want: []want{{
				name: "queryNode", inherited: true, path: "spec.components.version",
				declared: "2.4.23", image: "milvusdb/milvus:v2.4.23", short: "2.4.23",
			}},
		},
		{
			name: "component with only a version keeps the global image",
			c: Components{
				Component: Component{Image: "milvusdb/milvus:v2.4.23"},
				MixCoord:  &Component{Version: "v2.5.16"},
			},
			want: []want{{
				name: "mixCoord", path: "spec.components.mixCoord.version",
				declared: "v2.5.16", image: "milvusdb/milvus:v2.4.23", short: "2.5.16",
			}},
		},
		{
			name: "component version wins over its own image tag",
			c: Components{
				DataNode: &Component{Image: "milvusdb/milvus:latest", Version: "2.5.11"},
			},
			want: []want{{
				name: "dataNode", path: "spec.components.dataNode.version",
				declared: "2.5.11", image: "milvusdb/milvus:latest", short: "2.5.11",
			}},
		},
		{
			name: "unknown: inherited with no global image",
			c:    Components{IndexNode: &Component{}},
			want: []want{{
				name: "indexNode", inherited: true, path: "spec.components.image",
				reason: "no image is set",
			}},
		},
		{
			name: "unknown: component runs latest",
			c: Components{
				Component:     Component{Image: "milvusdb/milvus:v2.5.16"},
				StreamingNode: &Component{Image: "milvusdb/milvus:latest"},
			},
			want: []want{{
				name: "streamingNode", path: "spec.components.streamingNode.image",
				declared: "milvusdb/milvus:latest", image: "milvusdb/milvus:latest",
				reason: "names no verifiable version",
			}},
		},
		{
			name: "unknown: component version malformed, named by path",
			c: Components{
				Component:  Component{Image: "milvusdb/milvus:v2.5.16"},
				Standalone: &Component{Version: "foo"},
			},
			want: []want{{
				name: "standalone", path: "spec.components.standalone.version",
				declared: "foo", image: "milvusdb/milvus:v2.5.16",
				reason: "spec.components.standalone.version:",
			}},
		},
		{
			name: "several components in Named order",
			c: Components{
				Component: Component{Image: "milvusdb/milvus:v2.5.16"},
				CDC:       &Component{},
				Proxy:     &Component{Image: "milvusdb/milvus:v2.6.0"},
				RootCoord: &Component{},
			},
			want: []want{
				{name: "proxy", path: "spec.components.proxy.image", declared: "milvusdb/milvus:v2.6.0", image: "milvusdb/milvus:v2.6.0", short: "2.6.0"},
				{name: "rootCoord", inherited: true, path: "spec.components.image", declared: "milvusdb/milvus:v2.5.16", image: "milvusdb/milvus:v2.5.16", short: "2.5.16"},
				{name: "cdc", inherited: true, path: "spec.components.image", declared: "milvusdb/milvus:v2.5.16", image: "milvusdb/milvus:v2.5.16", short: "2.5.16"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.c.Effective(tt.c.Global())
			require.Len(t, got, len(tt.want))
			for i, w := range tt.want {
				g := got[i]
				assert.Equal(t, w.name, g.Name, "Name")
				assert.Equal(t, w.inherited, g.Inherited, "%s: Inherited", w.name)
				assert.Equal(t, w.path, g.Path.String(), "%s: Path", w.name)
				assert.Equal(t, w.declared, g.Declared, "%s: Declared", w.name)
				assert.Equal(t, w.image, g.Image, "%s: Image", w.name)
				if w.short == "" {
					assert.False(t, g.Known(), "%s: Known", w.name)
					assert.Contains(t, g.Reason, w.reason, "%s: Reason", w.name)
					continue
				}
				require.True(t, g.Known(), "%s: reason %s", w.name, g.Reason)
				assert.Equal(t, w.short, g.Version.Short(), "%s: Version", w.name)
			}
		})
	}
}

func TestComponentsNamedAndRollingUpdate(t *testing.T) {
	var c Components
	names := make([]string, 0, 12)
	for _, nc := range c.Named() {
		assert.Nil(t, nc.Component, nc.Name)
		names = append(names, nc.Name)
	}
	assert.Equal(t, []string{
		"proxy", "queryNode", "dataNode", "indexNode", "streamingNode", "mixCoord",
		"rootCoord", "dataCoord", "queryCoord", "indexCoord", "standalone", "cdc",
	}, names)

	assert.False(t, c.RollingUpdate(), "unset")
	f, tr := false, true
	c.EnableRollingUpdate = &f
	assert.False(t, c.RollingUpdate(), "false")
	c.EnableRollingUpdate = &tr
	assert.True(t, c.RollingUpdate(), "true")
}

func TestMilvusStatusRunning(t *testing.T) {
	tests := []struct {
		name      string
		status    MilvusStatus
		wantShort string // empty: ok is false
	}{
		{"currentVersion first", MilvusStatus{CurrentVersion: "2.5.16", CurrentImage: "milvusdb/milvus:v2.4.23"}, "2.5.16"},
		{"currentImage tag when no version", MilvusStatus{CurrentImage: "milvusdb/milvus:v2.4.23"}, "2.4.23"},
		{"currentImage with registry port", MilvusStatus{CurrentImage: "10.20.12.8:5000/milvusdb/milvus:v2.6.0"}, "2.6.0"},
		{"unparsable currentVersion falls back to the image", MilvusStatus{CurrentVersion: "latest", CurrentImage: "milvusdb/milvus:v2.4.23"}, "2.4.23"},
		{"empty status", MilvusStatus{}, ""},
		{"latest image", MilvusStatus{CurrentImage: "milvusdb/milvus:latest"}, ""},
		{"digest-only image", MilvusStatus{CurrentImage: "milvusdb/milvus@" + testDigest}, ""},
		{"malformed version and no image", MilvusStatus{CurrentVersion: "foo"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, ok := tt.status.Running()
			if tt.wantShort == "" {
				assert.False(t, ok)
				assert.True(t, v.IsZero())
				return
			}
			require.True(t, ok)
			assert.Equal(t, tt.wantShort, v.Short())
		})
	}
}

func TestMilvusImageRepository(t *testing.T) {
	tests := []struct {
		name       string
		spec, stat string
		want       string
	}{
		{"docker hub", "milvusdb/milvus:v2.4.23", "", "milvusdb/milvus"},
		{"private registry kept", "harbor.example.com/milvusdb/milvus:v2.4.23", "", "harbor.example.com/milvusdb/milvus"},
		{"registry port kept", "10.20.12.8:5000/milvusdb/milvus:v2.6.0", "", "10.20.12.8:5000/milvusdb/milvus"},
		{"digest dropped", "harbor.example.com/milvusdb/milvus@" + testDigest, "", "harbor.example.com/milvusdb/milvus"},
		{"spec before status", "harbor.example.com/milvusdb/milvus:v2.4.23", "milvusdb/milvus:v2.4.23", "harbor.example.com/milvusdb/milvus"},
		{"status when spec is empty", "", "10.20.12.8:5000/milvusdb/milvus:v2.4.23", "10.20.12.8:5000/milvusdb/milvus"},
		{"status when spec is malformed", "milvusdb/milvus:", "harbor.example.com/milvusdb/milvus:v2.4.23", "harbor.example.com/milvusdb/milvus"},
		{"neither", "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := &Milvus{}
			m.Spec.Components.Image = tt.spec
			m.Status.CurrentImage = tt.stat
			assert.Equal(t, tt.want, m.ImageRepository())
		})
	}
}

func TestMilvusUpgradeTargetNamespace(t *testing.T) {
	u := &MilvusUpgrade{}
	u.Namespace = "tenant-a"
	assert.Equal(t, "tenant-a", u.TargetNamespace(), "defaults to own namespace")
	u.Spec.Milvus.Namespace = "tenant-b"
	assert.Equal(t, "tenant-b", u.TargetNamespace(), "spec.milvus.namespace wins")
}

func TestDecode(t *testing.T) {
	const milvusJSON = `{
		"apiVersion": "milvus.io/v1beta1", "kind": "Milvus",
		"metadata": {"name": "my-release", "namespace": "db"},
		"spec": {
			"mode": "cluster",
			"dependencies": {"msgStreamType": "pulsar"},
			"components": {
				"image": "milvusdb/milvus:v2.4.23",
				"version": "2.4.23",
				"imageUpdateMode": "rollingUpgrade",
				"enableRollingUpdate": true,
				"proxy": {"image": "harbor.example.com/milvusdb/milvus:v2.5.11", "replicas": 2},
				"mixCoord": {}
			}
		},
		"status": {"currentImage": "milvusdb/milvus:v2.4.22", "currentVersion": "2.4.22"}
	}`

	t.Run("Milvus of the right kind", func(t *testing.T) {
		var m Milvus
		require.NoError(t, Decode([]byte(milvusJSON), MilvusKind, &m))
		assert.Equal(t, "my-release", m.Name)
		assert.Equal(t, "db", m.Namespace)
		assert.Equal(t, ModeCluster, m.Spec.Mode)
		assert.Equal(t, "pulsar", m.Spec.Dependencies.MsgStreamType)
		assert.Equal(t, "milvusdb/milvus:v2.4.23", m.Spec.Components.Image)
		assert.Equal(t, "2.4.23", m.Spec.Components.Version)
		assert.Equal(t, UpdateModeRollingUpgrade, m.Spec.Components.ImageUpdateMode)
		assert.True(t, m.Spec.Components.RollingUpdate())
		require.NotNil(t, m.Spec.Components.Proxy)
		assert.Equal(t, "harbor.example.com/milvusdb/milvus:v2.5.11", m.Spec.Components.Proxy.Image)
		require.NotNil(t, m.Spec.Components.MixCoord, "an empty block is present")
		assert.Nil(t, m.Spec.Components.QueryNode, "an absent block is nil")
		assert.Equal(t, "2.4.22", m.Status.CurrentVersion)
	})

	t.Run("MilvusUpgrade of the right kind", func(t *testing.T) {
		raw := `{"apiVersion": "milvus.io/v1beta1", "kind": "MilvusUpgrade",
			"metadata": {"name": "up", "namespace": "db"},
			"spec": {"milvus": {"name": "my-release"}, "sourceVersion": "v2.1.4", "targetVersion": "v2.2.16",
				"operation": "upgrade", "maxRetry": 3, "rollbackIfFailed": true}}`
		var u MilvusUpgrade
		require.NoError(t, Decode([]byte(raw), MilvusUpgradeKind, &u))
		assert.Equal(t, "my-release", u.Spec.Milvus.Name)
		assert.Equal(t, "v2.1.4", u.Spec.SourceVersion)
		assert.Equal(t, OperationUpgrade, u.Spec.Operation)
		require.NotNil(t, u.Spec.MaxRetry)
		assert.EqualValues(t, 3, *u.Spec.MaxRetry)
		assert.Equal(t, "db", u.TargetNamespace())
	})

	errTests := []struct {
		name    string
		raw     string
		want    any
		wantErr []string
	}{
		{
			name:    "a Pod is rejected naming both kinds",
			raw:     `{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}}`,
			want:    &Milvus{},
			wantErr: []string{"Kind=Milvus", `apiVersion "v1"`, `kind "Pod"`},
		},
		{
			name:    "a MilvusUpgrade where a Milvus is expected",
			raw:     `{"apiVersion": "milvus.io/v1beta1", "kind": "MilvusUpgrade"}`,
			want:    &Milvus{},
			wantErr: []string{"Kind=Milvus", `kind "MilvusUpgrade"`},
		},
		{
			name:    "another API version of Milvus",
			raw:     `{"apiVersion": "milvus.io/v1alpha1", "kind": "Milvus"}`,
			want:    &Milvus{},
			wantErr: []string{"milvus.io/v1beta1", `apiVersion "milvus.io/v1alpha1"`},
		},
		{
			name:    "malformed JSON",
			raw:     `{"apiVersion": "milvus.io/v1beta1", "kind": "Milvus"`,
			want:    &Milvus{},
			wantErr: []string{"decoding Milvus"},
		},
		{
			name:    "wrong field type",
			raw:     `{"apiVersion": "milvus.io/v1beta1", "kind": "Milvus", "spec": {"components": {"image": 42}}}`,
			want:    &Milvus{},
			wantErr: []string{"decoding Milvus"},
		},
	}
	for _, tt := range errTests {
		t.Run(tt.name, func(t *testing.T) {
			err := Decode([]byte(tt.raw), MilvusKind, tt.want)
			require.Error(t, err)
			for _, w := range tt.wantErr {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}
