// Maintenance mode, decided per request from the state file switcher writes into the lb-live
// volume (no reload): whether to answer with the maintenance page, and its Retry-After.
// Only evaluated while the state file exists (see the map in templates/site.conf.template).
//
// What lets a request through, and nothing else:
// - the bypass token, in the header X-Maintenance-Bypass or the cookie switcher_bypass,
//   compared in constant time;
// - the client's address inside one of the allowed networks. The address is the connection's
//   own (r.remoteAddress), which nginx's realip module replaces with X-Forwarded-For only when
//   the connection comes from a TRUSTED_PROXIES address. Headers such as X-Real-IP are never
//   read here: any client can send them.
import fs from 'fs';

const STATE = '/var/lib/switcher/live/maintenance.json';
const COOKIE = 'switcher_bypass';

function state() {
    try {
        return JSON.parse(fs.readFileSync(STATE));
    } catch (e) {
        return null;
    }
}

// Constant time in the length of the secret: every character of it is compared, whatever
// the guess; a guess of another length fails after the same work.
function sameSecret(guess, secret) {
    if (typeof guess !== 'string' || typeof secret !== 'string' || secret.length === 0) {
        return false;
    }
    let diff = guess.length ^ secret.length;
    for (let i = 0; i < secret.length; i++) {
        const g = i < guess.length ? guess.charCodeAt(i) : 0;
        diff |= g ^ secret.charCodeAt(i);
    }
    return diff === 0;
}

// Cookie pairs of the request, names as sent. nginx joins several Cookie headers with "; ".
function cookies(r) {
    const header = r.variables.http_cookie || '';
    return header.split(';').map(function (pair) {
        const at = pair.indexOf('=');
        return at < 0 ? [pair.trim(), ''] : [pair.slice(0, at).trim(), pair.slice(at + 1).trim()];
    });
}

function isBypassCookie(name) {
    return name.toLowerCase() === COOKIE;
}

function parseIPv4(text) {
    const parts = text.split('.');
    if (parts.length !== 4) {
        return null;
    }
    const bytes = [];
    for (let i = 0; i < 4; i++) {
        if (!/^[0-9]{1,3}$/.test(parts[i]) || Number(parts[i]) > 255) {
            return null;
        }
        bytes.push(Number(parts[i]));
    }
    return bytes;
}

function parseIPv6(text) {
    let body = text;
    const dot = body.indexOf('.');
    if (dot !== -1) {  // an IPv4 tail: a.b.c.d as the last two groups
        const colon = body.lastIndexOf(':');
        const v4 = parseIPv4(body.slice(colon + 1));
        if (v4 === null) {
            return null;
        }
        body = body.slice(0, colon + 1) + ((v4[0] << 8) | v4[1]).toString(16) + ':' + ((v4[2] << 8) | v4[3]).toString(16);
    }
    const halves = body.split('::');
    if (halves.length > 2) {
        return null;
    }
    const head = halves[0] ? halves[0].split(':') : [];
    const tail = halves.length === 2 && halves[1] ? halves[1].split(':') : [];
    const missing = 8 - head.length - tail.length;
    if ((halves.length === 1 && missing !== 0) || (halves.length === 2 && missing < 1)) {
        return null;
    }
    const groups = head.concat(new Array(halves.length === 2 ? missing : 0).fill('0'), tail);
    const bytes = [];
    for (let i = 0; i < 8; i++) {
        if (!/^[0-9a-fA-F]{1,4}$/.test(groups[i])) {
            return null;
        }
        const value = parseInt(groups[i], 16);
        bytes.push(value >> 8, value & 255);
    }
    return bytes;
}

// An address as bytes (4 or 16); an IPv4-mapped IPv6 address as its IPv4 bytes.
function parseAddress(text) {
    if (typeof text !== 'string' || text === '') {
        return null;
    }
    if (text.indexOf(':') === -1) {
        return parseIPv4(text);
    }
    const bytes = parseIPv6(text);
    if (bytes !== null && bytes.slice(0, 10).every(function (b) { return b === 0; })
            && bytes[10] === 255 && bytes[11] === 255) {
        return bytes.slice(12);
    }
    return bytes;
}

// "203.0.113.0/24" or "2001:db8::/32" (switcher writes them normalised, prefix always given).
function inNetwork(address, network) {
    const slash = network.indexOf('/');
    if (slash < 0) {
        return false;
    }
    const base = parseAddress(network.slice(0, slash));
    const bits = Number(network.slice(slash + 1));
    if (base === null || base.length !== address.length || !(bits >= 0 && bits <= base.length * 8)) {
        return false;
    }
    for (let i = 0; i < base.length; i++) {
        const take = Math.max(0, Math.min(8, bits - i * 8));
        const mask = take === 0 ? 0 : (0xff << (8 - take)) & 0xff;
        if ((address[i] & mask) !== (base[i] & mask)) {
            return false;
        }
    }
    return true;
}

function tokenGiven(r, token) {
    if (sameSecret(r.headersIn['X-Maintenance-Bypass'], token)) {
        return true;
    }
    return cookies(r).some(function (pair) {
        return isBypassCookie(pair[0]) && sameSecret(pair[1], token);
    });
}

function allowed(r, allow) {
    const address = parseAddress(r.remoteAddress);
    if (address === null) {
        return false;
    }
    return allow.some(function (network) {
        return typeof network === 'string' && inNetwork(address, network);
    });
}

function blocked(r) {
    const s = state();
    if (!s || !s.on) {
        return '';
    }
    const pass = tokenGiven(r, s.token || '') || allowed(r, Array.isArray(s.allow) ? s.allow : []);
    return pass ? '' : '1';
}

function retryAfter(r) {
    const s = state();
    return s && s.retry_after ? String(s.retry_after) : '';
}

// The Cookie header for the site: every cookie but the bypass one (any spelling of its name).
function cookieWithoutBypass(r) {
    return cookies(r)
        .filter(function (pair) { return pair[0] !== '' && !isBypassCookie(pair[0]); })
        .map(function (pair) { return pair[0] + '=' + pair[1]; })
        .join('; ');
}

export default { blocked, retryAfter, cookieWithoutBypass, sameSecret, parseAddress, inNetwork };
