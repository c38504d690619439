// Two texts side by side, lines removed on the left and added on the right, aligned (jsdiff's line diff).

import { diffLines } from "diff";
import { h } from "./dom.js";

export function sideBySide(before, after, { left = "before", right = "after" } = {}) {
  const rows = [];
  let oldNumber = 1;
  let newNumber = 1;
  const parts = diffLines(before, after);
  for (let index = 0; index < parts.length; index += 1) {
    const part = parts[index];
    const lines = split(part.value);
    if (part.removed && parts[index + 1]?.added) {
      const added = split(parts[index + 1].value);
      for (let i = 0; i < Math.max(lines.length, added.length); i += 1) {
        rows.push(row(i < lines.length ? [oldNumber++, lines[i], "del"] : null, i < added.length ? [newNumber++, added[i], "add"] : null));
      }
      index += 1;
    } else if (part.removed) {
      for (const line of lines) rows.push(row([oldNumber++, line, "del"], null));
    } else if (part.added) {
      for (const line of lines) rows.push(row(null, [newNumber++, line, "add"]));
    } else {
      for (const line of lines) rows.push(row([oldNumber++, line, ""], [newNumber++, line, ""]));
    }
  }
  return h("div.scroll", {}, h("table.diff", {},
    h("thead", {}, h("tr", {}, h("th", { colspan: 2, scope: "col" }, left), h("th", { colspan: 2, scope: "col" }, right))),
    h("tbody", {}, rows)));
}

function split(text) {
  const lines = text.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  return lines;
}

function row(left, right) {
  const cells = (side) => side
    ? [h("td.line-number", {}, String(side[0])), h(`td.code${side[2] ? "." + side[2] : ""}`, {}, side[1])]
    : [h("td.line-number"), h("td.code.empty")];
  return h("tr", {}, ...cells(left), ...cells(right));
}
