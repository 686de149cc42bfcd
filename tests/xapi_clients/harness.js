#!/usr/bin/env node
// Drives one third-party xAPI client library, through its own API, against an LRS; prints on
// stdout, as one JSON object, what the client concluded at each step of the scenario.
//
//   node harness.js CLIENT ENDPOINT USER PASSWORD WRONG_USER STATEMENTS.json
//
// CLIENT is tincanjs, xapi (@xapi/xapi) or adl (adl-xapiwrapper). STATEMENTS.json holds
// {"started": a statement with an id, "batch": [statements without id], "no_id": a statement
// without id, "refused": a statement for the wrong user}. The steps, in order:
//   one      the statement with an id          twice    the same statement again
//   batch    the list, in one call              no_id    the statement without id
//   back     that last statement read back by the id the LRS gave it
//   refused  a statement sent with a user the LRS does not know (the right password)
// Each step gives {success, status, ids, error}: success is the client's own verdict where it
// gives one (TinCanJS: err === null; @xapi/xapi: the promise resolved; adl-xapiwrapper, which
// hands back the raw answer: no transport error and a 2xx status, as its README's callers do).
"use strict";

const fs = require("fs");

const [client, endpoint, user, password, wrongUser, file] = process.argv.slice(2);
if (!file) {
  process.stderr.write("usage: node harness.js tincanjs|xapi|adl ENDPOINT USER PASSWORD WRONG_USER STATEMENTS.json\n");
  process.exit(2);
}
const statements = JSON.parse(fs.readFileSync(file, "utf8"));

function parsed(text) {
  try {
    return JSON.parse(text);
  } catch (e) {
    return text === undefined || text === "" ? null : text;
  }
}

// ---- TinCanJS (Rustici): TinCan.LRS, saveStatement (PUT with an id, POST without), saveStatements (POST);
// 0.50 knows the xAPI versions up to 1.0.2 (the newest it offers)
async function tincanjs() {
  const TinCan = require("tincanjs");
  const lrsFor = (username) => new TinCan.LRS({endpoint, username, password, version: "1.0.2", allowFail: false});
  const lrs = lrsFor(user);
  const call = (fn) => new Promise((resolve) => fn((err, xhr) => resolve({err, xhr})));
  const step = ({err, xhr}, ids) => ({
    success: err === null, status: xhr ? xhr.status : null, ids: ids || null,
    error: err === null ? null : String(err) + (xhr ? ": " + xhr.responseText : ""),
  });
  const out = {};
  // An id in the statement: saveStatement PUTs it under ?statementId=.
  const started = new TinCan.Statement(statements.started);
  let r = await call((cb) => lrs.saveStatement(started, {callback: cb}));
  out.one = step(r, [started.id]);
  r = await call((cb) => lrs.saveStatement(new TinCan.Statement(statements.started), {callback: cb}));
  out.twice = step(r, [started.id]);
  // The library's default: each new Statement is stamped with an id (and a timestamp) of its own.
  const batch = statements.batch.map((s) => new TinCan.Statement(s));
  r = await call((cb) => lrs.saveStatements(batch, {callback: cb}));
  out.batch = step(r, r.err === null ? parsed(r.xhr.responseText) : null);
  out.batch.client_ids = batch.map((s) => s.id);
  // No id and no stamping: saveStatement POSTs it and the LRS names it (in the answer's body).
  const noId = new TinCan.Statement(statements.no_id, {doStamp: false});
  r = await call((cb) => lrs.saveStatement(noId, {callback: cb}));
  out.no_id = step(r, r.err === null ? parsed(r.xhr.responseText) : null);
  out.no_id.method = noId.id === null ? "POST" : "PUT";
  if (out.no_id.success && Array.isArray(out.no_id.ids)) {
    const back = await call((cb) => lrs.retrieveStatement(out.no_id.ids[0], {callback: cb}));
    // On success retrieveStatement hands a TinCan.Statement, on failure the xhr.
    out.back = back.err === null
      ? {success: true, status: 200, ids: [back.xhr.id], error: null}
      : step(back);
  }
  r = await call((cb) => lrsFor(wrongUser).saveStatement(new TinCan.Statement(statements.refused), {callback: cb}));
  out.refused = step(r);
  return out;
}

// ---- @xapi/xapi (xAPI.js): sendStatement / sendStatements (POST), getStatement; axios underneath
async function xapi() {
  const XAPI = require("@xapi/xapi");
  const lrsFor = (username) => new XAPI({endpoint, auth: XAPI.toBasicAuth(username, password), version: "1.0.3"});
  const lrs = lrsFor(user);
  const step = async (promise) => {
    try {
      const response = await promise;
      return {success: true, status: response.status, ids: response.data, error: null};
    } catch (e) {
      const status = e.response ? e.response.status : null;
      const body = e.response ? JSON.stringify(e.response.data) : "";
      return {success: false, status, ids: null, error: e.message + (body ? ": " + body : "")};
    }
  };
  const out = {};
  out.one = await step(lrs.sendStatement({statement: statements.started}));
  out.twice = await step(lrs.sendStatement({statement: statements.started}));
  out.batch = await step(lrs.sendStatements({statements: statements.batch}));
  out.no_id = await step(lrs.sendStatement({statement: statements.no_id}));
  if (out.no_id.success && Array.isArray(out.no_id.ids)) {
    const back = await step(lrs.getStatement({statementId: out.no_id.ids[0]}));
    out.back = {...back, ids: back.success ? [back.ids.id] : null};
  }
  out.refused = await step(lrsFor(wrongUser).sendStatement({statement: statements.refused}));
  return out;
}

// ---- adl-xapiwrapper (ADL's xapiwrapper-node): new XAPIWrapper({url, auth}), sendStatements (POST
// whatever it is given: one statement or a list), getStatements({statementId}); X-Experience-API-Version 1.0.1
async function adl() {
  const adlWrapper = require("adl-xapiwrapper");
  const base = endpoint.endsWith("/") ? endpoint : endpoint + "/";
  const lrsFor = (username) => new adlWrapper.XAPIWrapper({url: base, auth: {user: username, pass: password}});
  const lrs = lrsFor(user);
  const call = (fn) => new Promise((resolve) => fn((err, resp, body) => resolve({err, resp, body})));
  const step = ({err, resp, body}) => {
    const status = resp ? resp.statusCode : null;
    const success = !err && status >= 200 && status < 300;
    return {success, status, ids: success ? parsed(body) : null,
            error: success ? null : (err ? String(err) : body || `HTTP ${status}`)};
  };
  const out = {};
  out.one = step(await call((cb) => lrs.sendStatements(statements.started, cb)));
  out.twice = step(await call((cb) => lrs.sendStatements(statements.started, cb)));
  out.batch = step(await call((cb) => lrs.sendStatements(statements.batch, cb)));
  out.no_id = step(await call((cb) => lrs.sendStatements(statements.no_id, cb)));
  if (out.no_id.success && Array.isArray(out.no_id.ids)) {
    const back = step(await call((cb) => lrs.getStatements({statementId: out.no_id.ids[0]}, null, cb)));
    out.back = {...back, ids: back.success ? [back.ids.id] : null};
  }
  out.refused = step(await call((cb) => lrsFor(wrongUser).sendStatements(statements.refused, cb)));
  out.version_header = adlWrapper.xapiversion;
  return out;
}

const drivers = {tincanjs, xapi, adl};
if (!drivers[client]) {
  process.stderr.write(`unknown client ${client}: one of ${Object.keys(drivers).join(", ")}\n`);
  process.exit(2);
}
drivers[client]().then(
  (out) => process.stdout.write(JSON.stringify(out) + "\n"),
  (e) => {
    process.stderr.write((e && e.stack) || JSON.stringify(e) || String(e));
    process.exit(1);
  },
);
