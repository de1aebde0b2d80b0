package k8srofsreadonlyroot

# RO101 for the cluster: every container, initContainer and ephemeralContainer sets
# securityContext.readOnlyRootFilesystem: true on the container itself.

import rego.v1

obj := input.review.object

pod_spec := obj.spec if obj.kind == "Pod"

pod_spec := obj.spec.jobTemplate.spec.template.spec if obj.kind == "CronJob"

pod_spec := obj.spec.template.spec if {
  not obj.kind in {"Pod", "CronJob"}
  obj.spec.template.spec
}

violation contains {"msg": msg} if {
  some list in ["containers", "initContainers", "ephemeralContainers"]
  some c in pod_spec[list]
  not c.securityContext.readOnlyRootFilesystem == true
  msg := sprintf("RO101 %v %v: readOnlyRootFilesystem is not true in the container's securityContext (rofs rule RO101)", [list, c.name])
}
