import { useEffect, useMemo, useState } from "preact/hooks";
import { cases, describe, directory, readPages } from "../api";
import { t } from "../i18n";
import { go, useNow } from "../router";
import { gradeClass, gradeLabel, nearestDue } from "../format";
import { useNames } from "../names";
import { AreaMap, type Pin } from "../map";
import { Tabs } from "../links";
import type { Case } from "../gen/gridwhistle/v1/case_pb";
import { AreaLayer } from "../gen/gridwhistle/v1/directory_pb";

/** At most this many open cases are drawn; the count says when there were more. */
const LIMIT = 2000;

/** The features of `geojson` (a FeatureCollection) whose department_id is `department`; all of them when it is empty. */
function ofDepartment(geojson: string, department: string): string {
  if (!department || !geojson) return geojson;
  const collection = JSON.parse(geojson) as { type: string; features: { properties?: { department_id?: string } }[] };
  const id = department.replace(/^departments\//, "");
  return JSON.stringify({ ...collection, features: collection.features.filter((f) => f.properties?.department_id === id) });
}

/**
 * The command centre's map: every open case over the district's grids or the departments' jurisdictions (all, or one
 * department's), coloured by its grade, ringed when a deadline of it has passed; a click opens the case.
 */
export function CaseMap() {
  const names = useNames();
  const now = useNow();
  const [area, setArea] = useState("");
  const [layer, setLayer] = useState(AreaLayer.GRIDS);
  const [department, setDepartment] = useState("");
  const [open, setOpen] = useState<Case[] | null>(null);
  const [more, setMore] = useState(false);
  const [error, setError] = useState("");
  useEffect(() => {
    void directory.getMyArea({ layer }).then(
      (a) => setArea(a.geojson),
      (err: unknown) => setError(describe(err)),
    );
  }, [layer]);
  useEffect(() => {
    void (async () => {
      try {
        const { items, more } = await readPages(
          (pageToken) =>
            cases
              .listCases({ pageSize: 500, pageToken, filter: "state = OPEN" })
              .then((page) => ({ items: page.cases, nextPageToken: page.nextPageToken })),
          LIMIT,
        );
        setMore(more);
        setOpen(items);
      } catch (err) {
        setError(describe(err));
      }
    })();
  }, []);
  // One department's jurisdictions, cut once per choice: the page renders every second for the overdue rings.
  const drawn = useMemo(
    () => (layer === AreaLayer.JURISDICTIONS ? ofDepartment(area, department) : area),
    [area, layer, department],
  );
  // Judged every second; the map redraws its pins only when a case's colour or ring changes.
  const overdue = new Set((open ?? []).filter((c) => (nearestDue(c)?.getTime() ?? Infinity) < now.getTime()).map((c) => c.name));
  const pins: Pin[] = (open ?? []).flatMap((c) =>
    c.location
      ? [
          {
            lat: c.location.latitude,
            lng: c.location.longitude,
            label: `${gradeLabel(c.riskGrade)} · ${names.category(c.category)} · ${c.description}`,
            className: `${gradeClass(c.riskGrade)}${overdue.has(c.name) ? " overdue" : ""}`,
            onClick: () => go(c.name),
          },
        ]
      : [],
  );
  return (
    <section class="casemap" data-testid="case-map">
      <div class="bar">
        <h2>{t("map")}</h2>
        <span data-testid="map-counts">
          {t("openCases")} {open ? `${open.length}${more ? "+" : ""}` : "…"} · {t("overdueCases")} {overdue.size}
        </span>
        <Tabs
          tabs={[
            { value: AreaLayer.GRIDS, label: t("grids"), id: "grids" },
            { value: AreaLayer.JURISDICTIONS, label: t("jurisdictions"), id: "jurisdictions" },
          ]}
          value={layer}
          onChange={setLayer}
        />
        {layer === AreaLayer.JURISDICTIONS && (
          <select name="department" value={department} onChange={(e) => setDepartment(e.currentTarget.value)}>
            <option value="">{t("all")}</option>
            {names.allDepartments().map((d) => (
              <option key={d.name} value={d.name}>
                {d.displayName}
              </option>
            ))}
          </select>
        )}
        <span class="legend">
          <span class="grade-a">{t("gradeA")}</span> <span class="grade-b">{t("gradeB")}</span>{" "}
          <span class="grade-c">{t("gradeC")}</span> <span class="overdue">{t("overdue")}</span>
        </span>
      </div>
      {error && <p class="error" role="alert">{error}</p>}
      {open !== null && (
        <AreaMap
          geojson={drawn}
          pins={pins}
          height={560}
          featureLabel={(p) =>
            typeof p.department_id === "string" ? names.department(`departments/${p.department_id}`) : String(p.name ?? p.grid_id ?? "")
          }
        />
      )}
    </section>
  );
}
