// The React glue of demo/local_time_core.js: the real React and the real window.
// Linked into the app by demo/local_time.py (rx.asset(shared=True)).

import { createElement, useEffect, useState } from 'react';
import { makeLocalTime } from './local_time_core.js';

const getWindow = () => (typeof window === 'undefined' ? undefined : window);

/** A moment in the user's own time zone and words: "Sun, Dec 6, 9:05 PM GMT+9 (in 8 hours)". */
export const DemoLocalTime = makeLocalTime({
  createElement,
  useEffect,
  useState,
  now: () => Date.now(),
  getWindow,
});
