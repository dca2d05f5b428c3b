// Checks on text from outside. FHIR's string type (its pattern is [ \r\n\t\S]+) holds no C0
// control character but tab, LF and CR.
export function hasControlCharacter(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) {
      return true;
    }
  }
  return false;
}

/** Whether a text starts with a URI scheme ("https:", "urn:"): an absolute URL, not a relative reference. */
export function hasScheme(text: string): boolean {
  return /^[A-Za-z][A-Za-z0-9+.-]*:/.test(text);
}
