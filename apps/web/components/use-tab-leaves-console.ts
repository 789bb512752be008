'use client';

import { useEffect, useRef, useState } from 'react';

/** Where this browser keeps whether Tab leaves a console. */
const TAB_LEAVES_KEY = 'labvisor.console.tabLeaves';

/**
 * Whether the Tab key leaves a console (terminal or desktop) instead of going to the lab: off by
 * default (a shell completes with Tab), kept in this browser. Without it a keyboard user who
 * entered a console could not leave it. The ref is for key handlers that outlive renders.
 */
export function useTabLeavesConsole() {
  const [tabLeaves, setTabLeaves] = useState(false);
  const ref = useRef(false);
  useEffect(() => setTabLeaves(localStorage.getItem(TAB_LEAVES_KEY) === 'on'), []);
  useEffect(() => {
    ref.current = tabLeaves;
  }, [tabLeaves]);
  const change = (on: boolean) => {
    localStorage.setItem(TAB_LEAVES_KEY, on ? 'on' : 'off');
    setTabLeaves(on);
  };
  return { tabLeaves, setTabLeaves: change, tabLeavesRef: ref };
}
