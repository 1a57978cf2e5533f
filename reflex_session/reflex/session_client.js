// The React side of reflex-session: the two components the Python side wraps
// (reflex_session/reflex/client.py), imported by the compiled app from
// $/public/external/reflex_session/reflex/client/session_client.js, where rx.asset links it.
//
// Only the wiring to React, the router and Reflex lives here; the logic is in session_core.js
// (plain functions, unit-tested with node --test in tests/js/).

import { useEffect, useRef, useState } from 'react';
import { useLocation } from 'react-router';
import { jsx } from '@emotion/react';
import { getBackendURL } from '$/utils/state';
import env from '$/env.json';
import { makeSessionClient, makeSessionCountdown } from './session_core.js';

const getWindow = () => (typeof window === 'undefined' ? undefined : window);

/** The invisible runtime: cookie sync, cross-tab notice, activity refresh, expiry timers. */
export const ReflexSessionClient = makeSessionClient({
  useEffect,
  useRef,
  useLocation,
  getWindow,
  // the backend's origin as Reflex computes it (its ping URL; the path is replaced)
  backendURL: () => getBackendURL(env.PING),
});

/** The session's time left, ticking in the browser. */
export const ReflexSessionCountdown = makeSessionCountdown({ useEffect, useState, jsx, getWindow });
