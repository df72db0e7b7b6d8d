import { idOf } from "./api";
import { go } from "./router";

/** A link to a case's page ("cases/{case}"), shown by the last eight characters of its id (a UUIDv7's first ones are its time, shared by cases of the same minute). */
export function CaseLink({ name }: { name: string }) {
  const id = idOf(name);
  return (
    <a href={`/console/cases/${id}`} onClick={(e) => (e.preventDefault(), go(`cases/${id}`))}>
      {id.slice(-8)}
    </a>
  );
}

export interface Tab<T> {
  value: T;
  label: string;
  /** The tab's name in the page, as `data-tab`, for tests and styles. */
  id: string;
  className?: string;
}

/** A row of buttons of which one is chosen: the page's view of its list (departments or streets, a colour, a layer). */
export function Tabs<T>({ tabs, value, onChange }: { tabs: Tab<T>[]; value: T; onChange: (value: T) => void }) {
  return (
    <span class="tabs" role="tablist">
      {tabs.map((tab) => (
        <button
          key={tab.id}
          type="button"
          role="tab"
          aria-selected={tab.value === value}
          class={`tab ${tab.value === value ? "on" : ""} ${tab.className ?? ""}`}
          data-tab={tab.id}
          onClick={() => onChange(tab.value)}
        >
          {tab.label}
        </button>
      ))}
    </span>
  );
}
