package k8srofswritablepaths

# RO201-RO203 for the cluster, from rofs profiles (input.parameters.profiles): a container whose
# image matches a profile has a writable volume at each required path, data that must persist is
# not on an emptyDir, and emptyDirs are bounded.

import rego.v1

obj := input.review.object

pod_spec := obj.spec if obj.kind == "Pod"

pod_spec := obj.spec.jobTemplate.spec.template.spec if obj.kind == "CronJob"

pod_spec := obj.spec.template.spec if {
  not obj.kind in {"Pod", "CronJob"}
  obj.spec.template.spec
}

containers contains c if {
  some list in ["containers", "initContainers", "ephemeralContainers"]
  some c in pod_spec[list]
}

# Profile rules hold the containers that run the app: main containers, and init or ephemeral
# containers that keep the image's command (a copy step with the app's image is not the app).
app_containers contains c if {
  some c in pod_spec.containers
}

app_containers contains c if {
  some list in ["initContainers", "ephemeralContainers"]
  some c in pod_spec[list]
  not c.command
}

# --- images: repository path components, registry and tag left out ----------------------

is_registry(s) if contains(s, ".")

is_registry(s) if contains(s, ":")

is_registry("localhost")

components(image) := comps if {
  parts := split(split(image, "@")[0], "/")
  n := count(parts)
  last := regex.replace(parts[n - 1], ":[^:/]*$", "")
  body := array.concat(array.slice(parts, 0, n - 1), [last])
  comps := strip_registry(body)
}

strip_registry(p) := array.slice(p, 1, count(p)) if {
  count(p) > 1
  is_registry(p[0])
} else := p

with_library(c) := array.concat(["library"], c) if count(c) == 1

else := c

matches(pattern, image) if {
  comps := with_library(components(image))
  pat := split(pattern, "/")
  count(pat) <= count(comps)
  offset := count(comps) - count(pat)
  every i, p in pat {
    glob.match(p, [], comps[offset + i])
  }
}

profile_of(c) := p if {
  some p in input.parameters.profiles
  some pattern in p.images
  matches(pattern, c.image)
}

# --- volumes -------------------------------------------------------------------------------

volume(name) := v if {
  some v in pod_spec.volumes
  v.name == name
}

claim_template(name) if {
  some t in obj.spec.volumeClaimTemplates
  t.metadata.name == name
}

config_volume(v) if {
  some key in ["configMap", "secret", "downwardAPI", "projected"]
  v[key]
}

covers(mount_path, path) if {
  prefix := concat("", [trim_right(mount_path, "/"), "/"])
  startswith(concat("", [path, "/"]), prefix)
}

writable_mount(c, path) := m if {
  some m in c.volumeMounts
  not m.readOnly == true
  covers(m.mountPath, path)
  not config_volume(volume(m.name))
}

covered(c, path) if writable_mount(c, path)

# The profile's path, and the narrower ones it accepts (PostgreSQL <= 17 keeps PGDATA in .../data).
targets(w) := array.concat([w.path], object.get(w, "accepts", []))

covered_any(c, w) if {
  some t in targets(w)
  covered(c, t)
}

# --- findings ------------------------------------------------------------------------------

violation contains {"msg": msg} if {
  some c in app_containers
  c.securityContext.readOnlyRootFilesystem == true
  p := profile_of(c)
  some w in p.paths
  w.path != "/dev/shm"
  not covered_any(c, w)
  msg := sprintf("RO201 container %v (%v profile): %v must be writable (%v); mount a writable volume there (profile kind: %v)", [c.name, p.name, w.path, w.purpose, w.kind])
}

violation contains {"msg": msg} if {
  some c in app_containers
  p := profile_of(c)
  some w in p.paths
  w.kind == "persistent"
  some t in targets(w)
  m := writable_mount(c, t)
  v := volume(m.name)
  v.emptyDir
  msg := sprintf("RO202 container %v (%v profile): %v holds data that must persist but volume %v is an emptyDir", [c.name, p.name, w.path, v.name])
}

violation contains {"msg": msg} if {
  some v in pod_spec.volumes
  v.emptyDir != null
  not v.emptyDir.sizeLimit
  msg := sprintf("RO203 volume %v: emptyDir without sizeLimit", [v.name])
}
