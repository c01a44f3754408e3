-- Argo CD health of a milvus.io/Milvus guarded by milvus-admission
-- (docs/gitops.md; gitops/gitops_test.go runs it on the states the webhook
-- and the Milvus Operator produce). Argo CD runs custom checks without Lua's
-- string library, so this uses only .. and tostring.
--
--   Degraded     the metadata migration planned for a held change failed:
--                milvus-admission's controller recorded it in the annotation
--                milvus-admission.io/migration-failed ("<upgrade> <state>")
--   Progressing  held for a metadata migration (milvus-admission.io/ intent
--                annotations); no operator status yet; the operator has not
--                observed the latest generation; it is rolling to
--                spec.components.image; or it reports Pending or Deleting
--   Progressing  staged at a gate's waypoint (policy action stage:
--                milvus-admission.io/staged-at): git asks for a later image,
--                which the next sync sets once the waypoint runs healthy
--   Degraded     converged on the image, but the operator reports Unhealthy
--   Suspended    the operator reports Stopped
--   Healthy      converged on spec.components.image and Healthy
local hs = {}

local annotations = {}
if obj.metadata ~= nil and obj.metadata.annotations ~= nil then
  annotations = obj.metadata.annotations
end
local requestedImage = annotations["milvus-admission.io/requested-image"]
local requestedVersion = annotations["milvus-admission.io/requested-version"]
local plannedUpgrade = annotations["milvus-admission.io/planned-upgrade"]
local migrationTarget = annotations["milvus-admission.io/migration-target"]
local migrationFailed = annotations["milvus-admission.io/migration-failed"]
local stagedAt = annotations["milvus-admission.io/staged-at"]
local stageTarget = annotations["milvus-admission.io/stage-target-image"]

-- The record names the failed MilvusUpgrade and its state; without the
-- string library it cannot be split, so the command names the planned one
-- (the controller records the failure of that one only).
if migrationFailed ~= nil then
  local inNamespace = ""
  if obj.metadata.namespace ~= nil then
    inNamespace = " -n " .. obj.metadata.namespace
  end
  hs.status = "Degraded"
  hs.message = "the metadata migration failed (milvus-admission.io/migration-failed: " .. migrationFailed .. ")"
  if requestedImage ~= nil then
    hs.message = hs.message .. "; the change to " .. requestedImage .. " stays held"
  end
  if plannedUpgrade ~= nil then
    hs.message = hs.message .. "; kubectl describe milvusupgrade" .. inNamespace .. " " .. plannedUpgrade ..
      ", then delete it to retry"
  else
    hs.message = hs.message .. "; kubectl describe milvusupgrades" .. inNamespace
  end
  return hs
end

if requestedImage ~= nil or requestedVersion ~= nil or plannedUpgrade ~= nil or migrationTarget ~= nil then
  local asked = requestedImage
  if asked == nil then
    asked = "version " .. tostring(requestedVersion)
  end
  local upgrade = "the planned MilvusUpgrade"
  if plannedUpgrade ~= nil then
    upgrade = "MilvusUpgrade " .. plannedUpgrade
  end
  local target = ""
  if migrationTarget ~= nil then
    target = " to " .. migrationTarget
  end
  hs.status = "Progressing"
  hs.message = "held by milvus-admission: milvus-admission.io/requested-image " .. asked ..
    " waits for " .. upgrade .. " (milvus-admission.io/planned-upgrade) to migrate the metadata" .. target
  return hs
end

-- Staged: the stored image is the waypoint, not git's. Healthy here would
-- say the sync converged while git's image has not been set yet.
if stagedAt ~= nil then
  hs.status = "Progressing"
  hs.message = "staged by milvus-admission at " .. stagedAt .. " (milvus-admission.io/staged-at) on the way to " ..
    tostring(stageTarget) .. ": the next sync sets it once " .. stagedAt .. " runs healthy"
  return hs
end

local status = obj.status
if status == nil or status.currentImage == nil or status.currentImage == "" then
  hs.status = "Progressing"
  hs.message = "waiting for the operator's status"
  return hs
end

if obj.metadata ~= nil and obj.metadata.generation ~= nil and status.observedGeneration ~= nil and
    status.observedGeneration ~= obj.metadata.generation then
  hs.status = "Progressing"
  hs.message = "waiting for the operator to observe generation " .. tostring(obj.metadata.generation)
  return hs
end

local image = nil
if obj.spec ~= nil and obj.spec.components ~= nil then
  image = obj.spec.components.image
end
if image ~= nil and image ~= "" and status.currentImage ~= image then
  hs.status = "Progressing"
  hs.message = "the operator rolls from " .. status.currentImage .. " to " .. image
  return hs
end

local phase = status.status
if phase == "Healthy" then
  hs.status = "Healthy"
  hs.message = "running " .. status.currentImage
elseif phase == "Unhealthy" then
  hs.status = "Degraded"
  hs.message = "the operator reports Unhealthy"
  if status.conditions ~= nil then
    for _, c in ipairs(status.conditions) do
      if c.type == "MilvusReady" and c.status ~= "True" and c.message ~= nil then
        hs.message = hs.message .. ": " .. c.message
      end
    end
  end
elseif phase == "Stopped" then
  hs.status = "Suspended"
  hs.message = "stopped (the operator reports Stopped)"
else
  hs.status = "Progressing"
  hs.message = "the operator reports " .. tostring(phase)
end
return hs
