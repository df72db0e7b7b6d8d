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
