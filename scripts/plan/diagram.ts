// The architecture diagram: DOT generated from the plan's graph (one cluster per component, same-type groups
// folded into one node, dependency edges transitively reduced, the critical path in red), rendered to SVG by
// Graphviz compiled to WebAssembly (@hpcc-js/wasm-graphviz), offline.
//
// Text is monospace (Courier; the SVG says "Courier,monospace"): Graphviz sizes every box from its own font
// metrics, and it knows Courier's exactly (every glyph 0.6 em), which every monospace font a viewer substitutes
// shares (DejaVu Sans Mono, Liberation Mono, Menlo). With Helvetica it assumes Arial's widths, and a viewer that
// draws DejaVu Sans instead (most Linux browsers, rsvg-convert) overflowed boxes and clipped the legend's
// first characters off the picture. test/docs.test.ts checks every label fits with those metrics.
import * as fs from "fs";
import * as path from "path";
import { cached } from "./cache";
import { Estimate, durationOf, formatSeconds } from "./estimate";
import { PlanModel, PlanResource, displayType, groupChildren, isGroup, shortType } from "./model";

const FILL: [RegExp, string][] = [
    [/^azure-native:network:/, "#dbeafe"],
    [/^azure-native:privatedns:/, "#dbeafe"],
    [/^azure-native:(storage|compute):/, "#dcfce7"],
    [/^azure-native:(authorization|managedidentity):/, "#f3e8ff"],
    [/^azuread:/, "#f3e8ff"],
    [/^command:/, "#ffedd5"],
];

function q(s: string): string {
    return `"${s.replace(/\\/g, "\\\\").replace(/"/g, "\\\"").replace(/\n/g, "\\n")}"`;
}

export interface DiagramOptions {
    title?: string;
    groupLimit?: number;
}

/** The one font both diagrams use (see the top of this file). */
export const FONT = "Courier";
/** Width Graphviz and every monospace font give one character, in em. */
export const MONO_EM = 0.6;

export function toDot(model: PlanModel, est: Estimate | undefined, opts: DiagramOptions = {}): string {
    const nodeOf = new Map<string, string>();
    const critical = new Set(est?.criticalPath.map(s => s.urn) ?? []);
    const lines: string[] = [
        "digraph plan {",
        `  graph [rankdir=LR, fontname="${FONT}", fontsize=12, nodesep=0.25, ranksep=0.6, compound=true, pad=0.2` +
        (opts.title ? `, label=${q(opts.title)}, labelloc=t` : "") + "];",
        `  node [shape=box, style="rounded,filled", fontname="${FONT}", fontsize=10, fillcolor="#f8fafc", margin="0.12,0.06"];`,
        `  edge [color="#64748b", arrowsize=0.6, fontname="${FONT}", fontsize=9];`,
    ];
    const rg = model.resources.filter(r => r.type === "azure-native:resources:ResourceGroup").map(r => r.urn);
    let n = 0;
    const fill = (type: string) => FILL.find(([re]) => re.test(type))?.[1] ?? "#f8fafc";
    const emit = (list: PlanResource[], indent: string) => {
        // Sorted, so the same plan always gives the same DOT (registration order varies with timing).
        const sorted = [...list].sort((a, b) => Number(a.custom) - Number(b.custom) || a.type.localeCompare(b.type) || a.name.localeCompare(b.name));
        for (const item of groupChildren(sorted, opts.groupLimit ?? 6)) {
            if (isGroup(item)) {
                const id = `n${n++}`;
                item.members.forEach(m => nodeOf.set(m.urn, id));
                const secs = durationOf(item.members[0]).seconds;
                lines.push(`${indent}${id} [label=${q(`${shortType(item.type)} × ${item.members.length}\n${displayType(item.type)}${secs >= 60 ? ` ~${formatSeconds(secs)}` : ""}`)}, ` +
                    `fillcolor=${q(fill(item.type))}, peripheries=2];`);
                continue;
            }
            const r = item;
            const kids = model.children.get(r.urn) ?? [];
            if (!r.custom) {
                lines.push(`${indent}subgraph cluster_${n++} {`);
                lines.push(`${indent}  label=${q(`${r.name} (${shortType(r.type)})`)}; style="rounded,dashed"; color="#94a3b8"; fontsize=11;`);
                emit(kids, indent + "  ");
                lines.push(`${indent}}`);
                continue;
            }
            const id = `n${n++}`;
            nodeOf.set(r.urn, id);
            const secs = durationOf(r).seconds;
            const onPath = critical.has(r.urn);
            lines.push(`${indent}${id} [label=${q(`${r.name}\n${displayType(r.type)}${secs >= 60 ? ` ~${formatSeconds(secs)}` : ""}`)}, ` +
                `fillcolor=${q(fill(r.type))}${onPath ? ", color=\"#dc2626\", penwidth=2" : ""}];`);
            if (kids.length > 0) emit(kids, indent);
        }
    };
    emit(model.roots, "  ");

    // Edges between drawn nodes, dependency -> dependent, without the ones implied by a longer route.
    const deps = new Map<string, Set<string>>();
    for (const r of model.resources) {
        const to = nodeOf.get(r.urn);
        if (!to) continue;
        for (const d of model.waitsFor.get(r.urn) ?? []) {
            if (rg.includes(d)) continue;
            const from = nodeOf.get(d);
            if (!from || from === to) continue;
            if (!deps.has(to)) deps.set(to, new Set());
            deps.get(to)!.add(from);
        }
    }
    const reach = new Map<string, Set<string>>();
    const reachable = (id: string): Set<string> => {
        let s = reach.get(id);
        if (s) return s;
        s = new Set();
        reach.set(id, s);
        for (const d of deps.get(id) ?? []) {
            s.add(d);
            reachable(d).forEach(x => s!.add(x));
        }
        return s;
    };
    const criticalEdges = new Set<string>();
    const path = est?.criticalPath ?? [];
    for (let i = 1; i < path.length; i++) {
        const a = nodeOf.get(path[i - 1].urn), b = nodeOf.get(path[i].urn);
        if (a && b) criticalEdges.add(`${a}->${b}`);
    }
    // Sorted, like the nodes: the registration order behind `deps` varies with timing, the layout must not.
    const edges: [string, string][] = [];
    for (const [to, froms] of deps) {
        for (const from of froms) {
            const implied = [...froms].some(o => o !== from && reachable(o).has(from));
            const key = `${from}->${to}`;
            if (implied && !criticalEdges.has(key)) continue;
            edges.push([from, to]);
        }
    }
    const num = (id: string) => Number(id.slice(1));
    edges.sort((a, b) => num(a[0]) - num(b[0]) || num(a[1]) - num(b[1]));
    for (const [from, to] of edges) {
        lines.push(`  ${from} -> ${to}${criticalEdges.has(`${from}->${to}`) ? " [color=\"#dc2626\", penwidth=2]" : ""};`);
    }
    if (rg.length > 0) {
        // Left-justified lines (\l), so no line is centred past the note's edge.
        lines.push(`  legend [shape=note, fillcolor="#ffffff", fontsize=9, label=${q(
            "Arrows: dependency -> dependent (implied ones omitted).\n" +
            "Every resource waits for the resource group (not drawn).\n" +
            "Red: the critical path of `pulumi up`; ~time: typical create time.\n").replace(/\\n/g, "\\l")}];`);
    }
    lines.push("}");
    return lines.join("\n") + "\n";
}

/**
 * DOT to SVG with Graphviz compiled to WebAssembly (no native binary, no network). The same DOT with the same
 * Graphviz gives the same SVG, so an unchanged diagram comes from the plan's cache (scripts/plan/cache.ts)
 * without loading Graphviz (~0.25 s of each plan).
 */
export async function renderSvg(dot: string): Promise<string> {
    return cached("svg", [`@hpcc-js/wasm-graphviz@${graphvizVersion()}`, dot], async () => {
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const { Graphviz } = require("@hpcc-js/wasm-graphviz") as typeof import("@hpcc-js/wasm-graphviz");
        const graphviz = await Graphviz.load();
        return graphviz.dot(dot, "svg");
    });
}

/** The installed @hpcc-js/wasm-graphviz's version (its package.json is not in its exports, so read from disk). */
function graphvizVersion(): string {
    let dir = path.dirname(require.resolve("@hpcc-js/wasm-graphviz"));
    while (!fs.existsSync(path.join(dir, "package.json")) && path.dirname(dir) !== dir) dir = path.dirname(dir);
    return String((JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8")) as { version?: unknown }).version);
}
