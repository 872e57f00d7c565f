// Small progressive enhancements; every page works without JavaScript. The content security policy allows
// no inline handlers (onsubmit=, onchange=): behaviour hangs on data- attributes handled here.
document.addEventListener("keydown", (event) => {
  // "/" focuses the first search field of the page, as in most search-heavy tools.
  if (event.key === "/" && !["INPUT", "TEXTAREA", "SELECT"].includes(document.activeElement.tagName)) {
    const search = document.querySelector("input[type=search]");
    if (search) { event.preventDefault(); search.focus(); }
  }
});

// <form data-confirm="question">: ask before sending (release a batch, end a role, ...).
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (form instanceof HTMLFormElement && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
    event.preventDefault();
    event.stopImmediatePropagation();
  }
}, true);

// <select data-autosubmit>: choosing a value sends its form (the year of a report).
document.addEventListener("change", (event) => {
  const field = event.target;
  if (field instanceof HTMLSelectElement && field.hasAttribute("data-autosubmit") && field.form) {
    field.form.requestSubmit();
  }
});
