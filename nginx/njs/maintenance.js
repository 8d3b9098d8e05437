// Maintenance mode, decided per request from the state file switcher writes into the lb-live
// volume (no reload): whether to answer with the maintenance page, and its Retry-After.
// Only evaluated while the state file exists (see the map in templates/site.conf.template).
import fs from 'fs';

const STATE = '/var/lib/switcher/live/maintenance.json';

function state() {
    try {
        return JSON.parse(fs.readFileSync(STATE));
    } catch (e) {
        return null;
    }
}

function bypassed(r, s) {
    const token = s.token || '';
    if (token && (r.headersIn['X-Maintenance-Bypass'] === token || r.variables.cookie_switcher_bypass === token)) {
        return true;
    }
    const allow = s.allow || [];
    return allow.indexOf(r.remoteAddress) !== -1 || allow.indexOf(r.headersIn['X-Real-IP'] || '') !== -1;
}

function blocked(r) {
    const s = state();
    return s && s.on && !bypassed(r, s) ? '1' : '';
}

function retryAfter(r) {
    const s = state();
    return s && s.retry_after ? String(s.retry_after) : '';
}

export default { blocked, retryAfter };
