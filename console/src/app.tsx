import { useEffect, useState } from "preact/hooks";
import { onSession, session, signOut, type Session } from "./api";
import { currentLang, setLang, t } from "./i18n";
import { usePath } from "./router";
import { PageLink } from "./links";
import { Role } from "./gen/gridwhistle/v1/common_pb";
import { Login } from "./pages/login";
import { Inbox } from "./pages/inbox";
import { CasePage } from "./pages/case";
import { Board } from "./pages/board";
import { Ranking } from "./pages/ranking";
import { Figures } from "./pages/figures";
import { LedgerEntryPage, LedgerList } from "./pages/ledger";
import { CaseMap } from "./pages/casemap";
import { Imports } from "./pages/imports";

export function App() {
  const [who, setWho] = useState<Session | null>(session());
  const [, setLangTick] = useState(0);
  const route = usePath();
  useEffect(() => onSession(setWho), []);
  if (!who) return <Login />;
  const supervising = who.caller.role === Role.SUPERVISOR;
  const administering = who.caller.role === Role.ADMIN;
  const leading = who.caller.role === Role.DISTRICT_LEADER;
  const readsLedger = !administering;
  let page;
  const caseMatch = /^cases\/([^/]+)$/.exec(route);
  const entryMatch = /^ledgerEntries\/([^/]+)$/.exec(route);
  if (route === "ranking") {
    page = <Ranking />;
  } else if (route === "figures" && who.caller.department) {
    page = <Figures who={who} />;
  } else if (route === "map" && supervising) {
    page = <CaseMap />;
  } else if (caseMatch?.[1]) {
    page = <CasePage key={caseMatch[1]} id={caseMatch[1]} who={who} />;
  } else if (entryMatch?.[1] && readsLedger) {
    page = <LedgerEntryPage key={entryMatch[1]} id={entryMatch[1]} who={who} />;
  } else if ((route === "ledger" && readsLedger) || leading) {
    page = <LedgerList who={who} />;
  } else if (administering) {
    page = <Imports />;
  } else if (supervising) {
    page = <Board />;
  } else {
    page = <Inbox who={who} />;
  }
  return (
    <div class="shell">
      <header class="top">
        <PageLink class="brand" to="">
          {t("title")}
        </PageLink>
        <nav>
          {!leading && (
            <PageLink to="">{administering ? t("imports") : supervising ? t("board") : t("inbox")}</PageLink>
          )}
          {supervising && (
            <PageLink to="map" data-testid="nav-map">
              {t("map")}
            </PageLink>
          )}
          {who.caller.department && (
            <PageLink to="figures" data-testid="nav-figures">
              {t("myFigures")}
            </PageLink>
          )}
          {readsLedger && (
            <PageLink to="ledger" data-testid="nav-ledger">
              {t("ledger")}
            </PageLink>
          )}
          <PageLink to="ranking" data-testid="nav-ranking">
            {t("ranking")}
          </PageLink>
        </nav>
        <span class="who" data-testid="who">
          {who.caller.username}
        </span>
        <button
          type="button"
          class="link"
          onClick={() => {
            setLang(currentLang() === "zh" ? "en" : "zh");
            setLangTick((n) => n + 1);
          }}
        >
          {t("language")}
        </button>
        <button type="button" class="link" onClick={() => void signOut()}>
          {t("signOut")}
        </button>
      </header>
      <main>{page}</main>
    </div>
  );
}
