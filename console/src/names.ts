// Names for the ids the API answers with: departments and categories from the directory (read once), people from
// their cards (read in batches as they appear). A page re-renders when a name it asked for arrives.

import { useEffect, useState } from "preact/hooks";
import { directory, readPages } from "./api";

const departments = new Map<string, string>();
const categories = new Map<string, string>();
const people = new Map<string, string>();
const asked = new Set<string>();
const listeners = new Set<() => void>();
let directoryRead: Promise<void> | undefined;

function changed(): void {
  for (const listener of listeners) listener();
}

function readDirectory(): Promise<void> {
  directoryRead ??= (async () => {
    try {
      const { items } = await readPages((pageToken) =>
        directory
          .listDirectoryDepartments({ pageSize: 500, pageToken })
          .then((page) => ({ items: page.departments, nextPageToken: page.nextPageToken })),
      );
      for (const d of items) departments.set(d.name, d.displayName);
      const catalogue = await directory.listCategories({});
      for (const c of catalogue.categories) categories.set(c.name, c.displayName);
      changed();
    } catch {
      directoryRead = undefined;
    }
  })();
  return directoryRead;
}

async function readPeople(names: string[]): Promise<void> {
  const wanted = [...new Set(names)].filter((n) => n.startsWith("users/") && !asked.has(n));
  for (let i = 0; i < wanted.length; i += 100) {
    const batch = wanted.slice(i, i + 100);
    for (const n of batch) asked.add(n);
    try {
      const answer = await directory.batchGetUserCards({ names: batch });
      for (const card of answer.cards) people.set(card.name, card.displayName);
      changed();
    } catch {
      for (const n of batch) asked.delete(n);
    }
  }
}

export interface Names {
  department(name: string): string;
  category(name: string): string;
  person(name: string): string;
  people(names: string[]): void;
  /** Every department of the directory, by display name, once read. */
  allDepartments(): { name: string; displayName: string }[];
}

export function useNames(): Names {
  const [, setTick] = useState(0);
  useEffect(() => {
    const listener = () => setTick((n) => n + 1);
    listeners.add(listener);
    void readDirectory();
    return () => void listeners.delete(listener);
  }, []);
  return {
    department: (name) => departments.get(name) ?? name.replace(/^departments\//, ""),
    category: (name) => categories.get(name) ?? categories.get(`categories/${name}`) ?? name.replace(/^categories\//, ""),
    person: (name) => people.get(name) ?? (name ? name.replace(/^users\//, "") : "—"),
    people: (names) => void readPeople(names),
    allDepartments: () =>
      [...departments].map(([name, displayName]) => ({ name, displayName })).sort((a, b) => a.displayName.localeCompare(b.displayName, "zh-CN")),
  };
}
