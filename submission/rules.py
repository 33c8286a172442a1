"""What MLPerf inference v6.1 asks of a submission tree, as data (learned from the public
submission checker, `mlcommons/inference` `tools/submission/submission_checker`; nothing of it
is imported or copied): the required files, the systems JSON fields, the measurements fields,
the closed division's models and the accuracy log's size limit."""

from __future__ import annotations

ROUND = "v6.1"
DIVISIONS = ("open", "closed")
# a performance run shorter than this is refused (the official checker: "Test duration less
# than 600s in user config"); read at call time, so a test may lower it
MIN_DURATION_MS = 600_000
MAX_ACCURACY_LOG = 10 * 1024  # bytes, after truncation
VIEWABLE = 4096  # the truncation keeps this much of the log's start and of its end
HASH_LINE = r"^hash=([\w\d]+)$"

PERFORMANCE_FILES = ("mlperf_log_summary.txt", "mlperf_log_detail.txt")
ACCURACY_FILES = (
    "mlperf_log_summary.txt",
    "mlperf_log_detail.txt",
    "accuracy.txt",
    "mlperf_log_accuracy.json",
)
SCENARIO_FILES = ("measurements.json", "user.conf", "README.md")  # non-empty
MEASUREMENT_FIELDS = (
    "input_data_types",
    "retraining",
    "starting_weights_filename",
    "weight_data_types",
    "weight_transformations",
)

# every field must be present; MEANINGFUL ones must also be non-empty
SYSTEM_FIELDS = (
    "division", "submitter", "status", "system_name", "number_of_nodes",
    "host_processor_model_name", "host_processors_per_node", "host_processor_core_count",
    "host_memory_capacity", "host_storage_capacity", "host_storage_type",
    "accelerators_per_node", "accelerator_model_name", "accelerator_memory_capacity",
    "framework", "operating_system", "system_type", "other_software_stack",
    "host_processor_frequency", "host_processor_caches", "host_memory_configuration",
    "host_processor_interconnect", "host_networking", "host_networking_topology",
    "accelerator_frequency", "accelerator_host_interconnect", "accelerator_interconnect",
    "accelerator_interconnect_topology", "accelerator_memory_configuration",
    "accelerator_on-chip_memories", "cooling", "hw_notes", "sw_notes",
    "host_network_card_count", "system_type_detail",
)  # fmt: skip
MEANINGFUL_FIELDS = (
    "division", "submitter", "system_type", "status", "system_name", "number_of_nodes",
    "host_processor_model_name", "host_processors_per_node", "host_processor_core_count",
    "host_memory_capacity", "host_memory_configuration", "host_storage_capacity",
    "host_storage_type", "host_networking", "host_network_card_count",
    "host_networking_topology", "accelerators_per_node", "accelerator_model_name",
    "accelerator_memory_capacity", "accelerator_host_interconnect",
    "accelerator_memory_configuration", "accelerator_interconnect", "cooling", "framework",
    "operating_system", "other_software_stack",
)  # fmt: skip
STATUSES = ("available", "preview", "rdi")
SYSTEM_TYPES = ("datacenter", "edge", "datacenter,edge", "edge,datacenter")

# the closed division's models of the round (datacenter and edge), and the catalog's recipes
# that implement one of them
CLOSED_MODELS = (
    "resnet", "retinanet", "bert-99", "bert-99.9", "dlrm-v2-99", "dlrm-v2-99.9",
    "3d-unet-99", "3d-unet-99.9", "gptj-99", "gptj-99.9", "llama2-70b-99", "llama2-70b-99.9",
    "stable-diffusion-xl", "mixtral-8x7b", "llama3.1-405b", "llama3.1-8b", "rgat",
    "pointpainting", "deepseek-r1", "whisper",
)  # fmt: skip
CATALOG_MODELS = {
    "resnet50": "resnet",
    "resnet50-pytorch": "resnet",
    "retinanet": "retinanet",
    "bert-large": "bert-99",
    "3d-unet": "3d-unet-99",
    "dlrm-v2": "dlrm-v2-99",
    "gpt-j": "gptj-99",
    "llama2-70b": "llama2-70b-99",
}

# an accuracy.txt metric line the checker's patterns read, by mlenv metric
METRIC_LINES = {
    "top1": r"^accuracy=([\d\.]+)%",
    "map": r"^mAP=([\d\.]+)",
    "f1": r"^\{\"exact_match\": [\d\.]+, \"f1\": ([\d\.]+)\}",
}

# the closed division's audit (compliance) tests mlenv runs (`mlenv run --compliance T`), and the
# closed models of the round that need each (the official checker's per-round lists)
COMPLIANCE_TESTS = ("TEST01", "TEST04")
COMPLIANCE_MODELS = {
    "TEST01": (
        "resnet", "retinanet", "bert-99", "bert-99.9", "dlrm-v2-99", "dlrm-v2-99.9",
        "3d-unet-99", "3d-unet-99.9", "stable-diffusion-xl", "rgat", "pointpainting", "whisper",
    ),
    "TEST04": ("resnet", "stable-diffusion-xl", "pointpainting"),
}  # fmt: skip
VERIFY_ACCURACY = "verify_accuracy.txt"
VERIFY_PERFORMANCE = "verify_performance.txt"
PASS_LINE = "TEST PASS"
# TEST01's accuracy/ folder, written when the sampled responses differed from the accuracy run
# and mlenv compared the metric on them (baseline = the accuracy run, compliance = TEST01's)
TEST01_ACCURACY_FILES = (
    "mlperf_log_accuracy.json",
    "accuracy.txt",
    "baseline_accuracy.txt",
    "compliance_accuracy.txt",
)


def compliance_tests(closed_model: str) -> tuple[str, ...]:
    """The compliance tests a closed-division model needs, in order."""
    return tuple(t for t in COMPLIANCE_TESTS if closed_model in COMPLIANCE_MODELS[t])
