"""Names of the values flows pass between tasks (TaskFlow store keys)."""

LOAD_BALANCER_ID = "load_balancer_id"
AMPHORA_IDS = "amphora_ids"
AMPHORA_ID = "amphora_id"
REPLACEMENT_IDS = "replacement_ids"
SERVING_IDS = "serving_ids"  # the amphorae that stay when others are replaced
