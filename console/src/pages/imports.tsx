import { useEffect, useState } from "preact/hooks";
import { admin, describe, directory } from "../api";
import { t, type Key } from "../i18n";
import { when } from "../format";
import { AreaMap } from "../map";
import { itemIndex, violations } from "../violations";
import { BoundaryKind, type BoundaryGeneration, type CategoryRule } from "../gen/gridwhistle/v1/admin_pb";
import { RiskGrade } from "../gen/gridwhistle/v1/common_pb";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { CategoryRuleSchema } from "../gen/gridwhistle/v1/admin_pb";

type Kind = "grids" | "jurisdictions" | "catalogue";

const KINDS: [Kind, Key][] = [
  ["grids", "grids"],
  ["jurisdictions", "jurisdictions"],
  ["catalogue", "catalogue"],
];

/** What the server said of a file: how many features (or categories) passed, or what is wrong with which one. */
interface Checked {
  count: number;
  problems: { index?: number; label: string; field: string; description: string }[];
  message: string;
}

/** A catalogue file as `gridwhistle import catalogue` reads it, as the API's categories. */
function catalogueOf(text: string): MessageInitShape<typeof CategoryRuleSchema>[] {
  const file = JSON.parse(text) as { categories?: unknown };
  if (!Array.isArray(file.categories)) throw new Error(t("notACatalogue"));
  const grades: Record<string, RiskGrade> = { A: RiskGrade.A, B: RiskGrade.B, C: RiskGrade.C };
  return file.categories.map((entry: Record<string, unknown>) => ({
    name: `categories/${String(entry.id ?? "")}`,
    displayName: String(entry.display_name ?? ""),
    leadDepartmentType: String(entry.lead ?? ""),
    assistingDepartmentTypes: Array.isArray(entry.assists) ? entry.assists.map(String) : [],
    defaultRiskGrade: grades[String(entry.default_grade)] ?? RiskGrade.UNSPECIFIED,
  }));
}

/** What a file calls one of its features or categories: its grid_id, department_id, id or name. */
function nameOf(properties: Record<string, unknown> | null | undefined): string {
  const name = properties?.grid_id ?? properties?.department_id ?? properties?.id ?? properties?.name;
  return name === undefined ? "" : String(name);
}

/** A file's items in the order the server numbers them: a boundary file's features (their properties), or categories. */
function itemsOf(kind: Kind, text: string): (Record<string, unknown> | null | undefined)[] {
  try {
    const file = JSON.parse(text) as {
      features?: { properties?: Record<string, unknown> | null }[];
      categories?: Record<string, unknown>[];
    };
    return (kind === "catalogue" ? file.categories : file.features?.map((f) => f.properties)) ?? [];
  } catch {
    return [];
  }
}

/**
 * The admin's imports: a grids, jurisdictions or catalogue file is checked by the server first (nothing stored), with
 * each refused feature listed and drawn in red on the map; only a file that passed is imported. The generations and
 * the catalogue version in force are shown, and the map draws the grids in force.
 */
export function Imports() {
  const [generations, setGenerations] = useState<BoundaryGeneration[]>([]);
  const [catalogue, setCatalogue] = useState<{ version: bigint; categories: CategoryRule[] } | null>(null);
  const [area, setArea] = useState("");
  const [kind, setKind] = useState<Kind>("grids");
  const [file, setFile] = useState<{ name: string; text: string } | null>(null);
  const [checked, setChecked] = useState<Checked | null>(null);
  const [done, setDone] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState("");
  const loadInForce = async () => {
    try {
      const [g, c, a] = await Promise.all([
        admin.listBoundaryGenerations({ pageSize: 50 }),
        admin.getDispatchCatalogue({}),
        directory.getMyArea({}),
      ]);
      setGenerations(g.generations);
      setCatalogue({ version: c.version, categories: c.categories });
      setArea(a.geojson);
    } catch (err) {
      setError(describe(err));
    }
  };
  useEffect(() => void loadInForce(), []);
  const send = async (validateOnly: boolean, text: string): Promise<number> => {
    switch (kind) {
      case "grids":
        return (await admin.importGrids({ geojson: text, validateOnly })).generation?.featureCount ?? 0;
      case "jurisdictions":
        return (await admin.importJurisdictions({ geojson: text, validateOnly })).generation?.featureCount ?? 0;
      case "catalogue": {
        const categories = catalogueOf(text);
        await admin.importDispatchCatalogue({ categories, validateOnly });
        return categories.length;
      }
    }
  };
  const check = async (chosen: { name: string; text: string }) => {
    setFile(chosen);
    setChecked(null);
    setDone("");
    setBusy(true);
    try {
      setChecked({ count: await send(true, chosen.text), problems: [], message: "" });
    } catch (err) {
      // The file is read once for the names of all its refused items, however many there are.
      const items = itemsOf(kind, chosen.text);
      const problems = violations(err).map((v) => {
        const index = itemIndex(v.field);
        return {
          index,
          label: index === undefined ? "" : nameOf(items[index]),
          field: v.field,
          description: v.description,
        };
      });
      setChecked({ count: 0, problems, message: describe(err) });
    } finally {
      setBusy(false);
    }
  };
  const store = async () => {
    if (!file) return;
    setBusy(true);
    try {
      const count = await send(false, file.text);
      setDone(`${t("imported")}: ${file.name} (${count})`);
      setFile(null);
      setChecked(null);
      await loadInForce();
    } catch (err) {
      setError(describe(err));
    } finally {
      setBusy(false);
    }
  };
  // Each import is a generation of the district's boundaries; routing uses the newest. The list is newest first.
  const current = generations.find((g) => g.current);
  const latest = (wanted: BoundaryKind) => generations.find((g) => g.kind === wanted);
  const describeGeneration = (g: BoundaryGeneration | undefined) =>
    g ? `${t("generation")} ${g.generation} · ${g.featureCount} · ${when(g.createTime)}${g.current ? ` · ${t("inForce")}` : ""}` : t("none");
  const passed = checked !== null && checked.problems.length === 0 && checked.message === "";
  // A boundary file is drawn as it was read, its refused features in red; otherwise the grids in force.
  const preview = file && kind !== "catalogue" ? file.text : area;
  const marked = (checked?.problems ?? []).flatMap((p) => (p.index === undefined ? [] : [p.index]));
  return (
    <section class="imports" data-testid="imports">
      <div class="bar">
        <h2>{t("imports")}</h2>
      </div>
      {error && <p class="error" role="alert">{error}</p>}
      <table class="deadlines" data-testid="in-force">
        <tbody>
          <tr>
            <td>{t("inForce")}</td>
            <td data-testid="current-generation">{current ? `${t("generation")} ${current.generation}` : t("none")}</td>
          </tr>
          <tr>
            <td>{t("grids")}</td>
            <td>{describeGeneration(latest(BoundaryKind.GRIDS))}</td>
          </tr>
          <tr>
            <td>{t("jurisdictions")}</td>
            <td>{describeGeneration(latest(BoundaryKind.JURISDICTIONS))}</td>
          </tr>
          <tr>
            <td>{t("catalogue")}</td>
            <td>{catalogue ? `${t("version")} ${catalogue.version} · ${catalogue.categories.length}` : t("none")}</td>
          </tr>
        </tbody>
      </table>
      <div class="actions">
        <label>
          {t("importKind")}
          <select
            name="kind"
            value={kind}
            onChange={(e) => {
              setKind(e.currentTarget.value as Kind);
              setFile(null);
              setChecked(null);
            }}
          >
            {KINDS.map(([value, label]) => (
              <option key={value} value={value}>
                {t(label)}
              </option>
            ))}
          </select>
        </label>
        <label class="file">
          {t("chooseFile")}
          <input
            name="import-file"
            type="file"
            accept=".json,.geojson,application/json,application/geo+json"
            onChange={(e) => {
              const chosen = e.currentTarget.files?.[0];
              if (chosen) void chosen.text().then((text) => check({ name: chosen.name, text }));
            }}
          />
        </label>
        {busy && <p>{t("loading")}</p>}
        {checked && passed && (
          <p data-testid="check-passed">
            {t("checkPassed")}: {file?.name} ({checked.count})
          </p>
        )}
        {checked && !passed && (
          <div data-testid="check-failed">
            <p class="error">{checked.problems.length > 0 ? t("checkFailed") : checked.message}</p>
            <div class="scroll">
              <table class="figures problems">
                <tbody>
                  {checked.problems.map((p, i) => (
                    <tr key={i} data-item={p.index ?? ""}>
                      <td>{p.index === undefined ? "—" : `#${p.index + 1}`}</td>
                      <td>{p.label}</td>
                      <td>{p.field}</td>
                      <td>{p.description}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          </div>
        )}
        <div class="buttons">
          <button type="button" data-action="import" disabled={!passed || busy} onClick={() => void store()}>
            {t("import")}
          </button>
        </div>
        {done && <p data-testid="imported">{done}</p>}
      </div>
      <AreaMap
        geojson={preview}
        pins={[]}
        height={420}
        marked={marked}
        featureLabel={nameOf}
      />
    </section>
  );
}
