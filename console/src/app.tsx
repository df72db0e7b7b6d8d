import { useEffect, useState } from "preact/hooks";
import { onSession, session, signOut, type Session } from "./api";
import { currentLang, setLang, t } from "./i18n";
import { go, usePath } from "./router";
import { Role } from "./gen/gridwhistle/v1/common_pb";
import { Login } from "./pages/login";
import { Inbox } from "./pages/inbox";
import { CasePage } from "./pages/case";
import { Board } from "./pages/board";
import { Ranking } from "./pages/ranking";
import { Figures } from "./pages/figures";

export function App() {
  const [who, setWho] = useState<Session | null>(session());
  const [, setLangTick] = useState(0);
  const route = usePath();
  useEffect(() => onSession(setWho), []);
  if (!who) return <Login />;
  const supervising = who.caller.role === Role.SUPERVISOR || who.caller.role === Role.ADMIN;
  let page;
  const caseMatch = /^cases\/([^/]+)$/.exec(route);
  if (route === "ranking") {
    page = <Ranking />;
  } else if (route === "figures" && who.caller.department) {
    page = <Figures who={who} />;
  } else if (caseMatch?.[1]) {
    page = <CasePage key={caseMatch[1]} id={caseMatch[1]} who={who} />;
  } else if (supervising) {
    page = <Board />;
  } else {
    page = <Inbox who={who} />;
  }
  return (
    <div class="shell">
      <header class="top">
        <a class="brand" href="/console/" onClick={(e) => (e.preventDefault(), go(""))}>
          {t("title")}
        </a>
        <nav>
          <a href="/console/" onClick={(e) => (e.preventDefault(), go(""))}>
            {supervising ? t("board") : t("inbox")}
          </a>
          {who.caller.department && (
            <a href="/console/figures" data-testid="nav-figures" onClick={(e) => (e.preventDefault(), go("figures"))}>
              {t("myFigures")}
            </a>
          )}
          <a href="/console/ranking" data-testid="nav-ranking" onClick={(e) => (e.preventDefault(), go("ranking"))}>
            {t("ranking")}
          </a>
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
