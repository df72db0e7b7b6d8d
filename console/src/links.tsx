import type { ComponentChildren } from "preact";
import { idOf } from "./api";
import { go } from "./router";

/**
 * A link to one of the console's pages ("cases/{case}", "ledger", "" for the caller's first page): a real address to
 * open in a new tab, and a change of page without a reload when clicked. Other attributes (class, data-*) pass through.
 */
export function PageLink({ to, children, ...rest }: { to: string; children: ComponentChildren; [attribute: string]: unknown }) {
  return (
    <a {...rest} href={`/console/${to}`} onClick={(e) => (e.preventDefault(), go(to))}>
      {children}
    </a>
  );
}

/** A link to a case's page ("cases/{case}"), shown by the last eight characters of its id (a UUIDv7's first ones are its time, shared by cases of the same minute). */
export function CaseLink({ name }: { name: string }) {
  return <PageLink to={`cases/${idOf(name)}`}>{idOf(name).slice(-8)}</PageLink>;
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
