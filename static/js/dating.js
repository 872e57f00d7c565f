// The intake's dating, while typing: show the fields of the dating chosen and the due date it gives.
// Only a preview: the server calculates the due date that is stored (pregnancies.services.pregnancy_due_date).
(() => {
  const TERM_DAYS = 280;
  const FIELDS = { lmp: ["lmp_date"], ultrasound: ["ultrasound_on", "ultrasound_weeks", "ultrasound_days"], due_date: ["due_date"] };
  const day = (value) => (/^\d{4}-\d{2}-\d{2}$/.test(value || "") ? new Date(value + "T00:00:00Z") : null);
  const plus = (date, days) => new Date(date.getTime() + days * 86400000);
  const show = (date) => date.toISOString().slice(0, 10).split("-").reverse().join("-");
  const number = (input) => (input && input.value !== "" ? Number(input.value) : null);

  function update(box) {
    const form = box.closest("form");
    const field = (name) => form.querySelector(`[name="${name}"]`);
    const checked = form.querySelector('[name="dating_method"]:checked');
    const method = checked ? checked.value : "due_date";
    for (const [key, names] of Object.entries(FIELDS)) {
      for (const name of names) {
        const wrapper = box.querySelector(`[data-field="${name}"]`);
        const hasError = wrapper && wrapper.querySelector(".errorlist");
        if (wrapper) wrapper.style.display = key === method || hasError ? "" : "none";
      }
    }
    let due = null;
    if (method === "lmp" && day(field("lmp_date").value)) due = plus(day(field("lmp_date").value), TERM_DAYS);
    if (method === "ultrasound" && day(field("ultrasound_on").value) && number(field("ultrasound_weeks")) !== null) {
      const measured = number(field("ultrasound_weeks")) * 7 + (number(field("ultrasound_days")) || 0);
      due = plus(day(field("ultrasound_on").value), TERM_DAYS - measured);
    }
    if (method === "due_date") due = day(field("due_date").value);
    const preview = box.querySelector("[data-due-preview]");
    if (!preview) return;
    if (!due || method === "due_date") { preview.hidden = true; return; }
    let text = `${preview.dataset.label}: ${show(due)}`;
    const intake = day(field("intake_date").value);
    if (intake) {
      const days = TERM_DAYS - Math.round((due - intake) / 86400000);
      if (days >= 0) text += ` (${Math.floor(days / 7)}+${days % 7} ${preview.dataset.atIntake})`;
    }
    preview.textContent = text;
    preview.hidden = false;
  }

  document.addEventListener("DOMContentLoaded", () => {
    for (const box of document.querySelectorAll("[data-dating]")) {
      update(box);
      box.closest("form").addEventListener("input", () => update(box));
      box.closest("form").addEventListener("change", () => update(box));
    }
  });
})();
