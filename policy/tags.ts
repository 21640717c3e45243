// Tag policy: tag keys that differ only in case. Azure treats tag names case-insensitively and keeps one of
// such keys, so a second `Slurm-Node-Role: none` next to `slurm-node-role: login` makes what the resource is
// ambiguous to every tool that reads tags — including policies that recognise login nodes by tag.
import { ResourceValidationPolicy } from "@pulumi/policy";
import { caseConflicts, known } from "./common";

export const tagKeysUnambiguous: ResourceValidationPolicy = {
    name: "tag-keys-unambiguous",
    description:
        "Checks that no resource has tag keys that differ only in case (e.g. slurm-node-role and Slurm-Node-Role). " +
        "Azure tag names are case-insensitive and only one value survives, so such a pair can shadow the login-node " +
        "tag and hide a login node from tools that read tags. Tags set through a TagAtScope (properties.tags) count. None of Checkov, Trivy or Azure Policy has this check.",
    severity: "high",
    enforcementLevel: "mandatory",
    remediationSteps: "Keep one key per tag name; remove the duplicate that differs only in case.",
    validateResource: (args, reportViolation) => {
        // A TagAtScope sets (replaces) the tags of the resource at its scope through `properties.tags`.
        const tags = args.type === "azure-native:resources:TagAtScope"
            ? known(() => (args.props as { properties?: { tags?: unknown } }).properties?.tags)
            : known(() => (args.props as { tags?: unknown }).tags);
        const conflicts = caseConflicts(tags);
        if (conflicts.length === 0) {
            return;
        }
        for (const keys of conflicts) {
            reportViolation(
                `tags has keys that differ only in case: ${keys.map(k => JSON.stringify(k)).join(", ")}; Azure keeps one of ` +
                "them, so what the resource is (e.g. whether it is a login node) is ambiguous. Fix: keep a single key for " +
                "that tag name.");
        }
    },
};
