// The printed resource tree (components and their children, large same-type groups folded), counts by type,
// and where the secret inputs are.
import { REDACTED } from "../simulate";
import { PlanModel, PlanResource, displayType, groupChildren, isGroup } from "./model";

export function renderTree(model: PlanModel, groupLimit = 10): string[] {
    const lines: string[] = [];
    const label = (r: PlanResource) => r.custom
        ? `${r.name}  ${displayType(r.type)}`
        : `${r.name}  [${displayType(r.type)}]`;
    const walk = (list: PlanResource[], prefix: string) => {
        const items = groupChildren(list, groupLimit);
        items.forEach((item, i) => {
            const lastItem = i === items.length - 1;
            const branch = prefix + (lastItem ? "└─ " : "├─ ");
            const next = prefix + (lastItem ? "   " : "│  ");
            if (isGroup(item)) {
                const names = item.members.map(m => m.name);
                lines.push(`${branch}${displayType(item.type)} × ${item.members.length}  (${names.slice(0, 2).join(", ")}, … ${names[names.length - 1]})`);
                return;
            }
            lines.push(branch + label(item));
            walk(sortChildren(model.children.get(item.urn) ?? []), next);
        });
    };
    walk(sortChildren(model.roots), "");
    return lines;
}

/** Components first, then resources by type and name, so the tree reads the same on every run. */
function sortChildren(list: PlanResource[]): PlanResource[] {
    return [...list].sort((a, b) => Number(a.custom) - Number(b.custom)
        || a.type.localeCompare(b.type) || a.name.localeCompare(b.name));
}

export function countsByType(model: PlanModel): { type: string; count: number }[] {
    const counts = new Map<string, number>();
    for (const r of model.resources) counts.set(r.type, (counts.get(r.type) ?? 0) + 1);
    return [...counts.entries()].map(([type, count]) => ({ type, count }))
        .sort((a, b) => b.count - a.count || a.type.localeCompare(b.type));
}

/** Paths (resource name + property path) of every input the program passed as a Pulumi secret. */
export function secretInputs(model: PlanModel): string[] {
    const out: string[] = [];
    const walk = (v: unknown, path: string, name: string) => {
        if (v === REDACTED) out.push(`${name} ${path}`);
        else if (Array.isArray(v)) v.forEach((x, i) => walk(x, `${path}[${i}]`, name));
        else if (v && typeof v === "object") {
            for (const [k, x] of Object.entries(v as Record<string, unknown>)) walk(x, path ? `${path}.${k}` : k, name);
        }
    };
    for (const r of model.resources) walk(r.inputs, "", r.name);
    return out;
}

/** A fixed-width table. */
export function table(rows: string[][], indent = "  "): string[] {
    const widths = rows[0].map((_, i) => Math.max(...rows.map(r => (r[i] ?? "").length)));
    return rows.map(r => indent + r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join("  ").trimEnd());
}
