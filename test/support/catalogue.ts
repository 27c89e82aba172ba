/** A product CSV of any size, the same on every run: 1 to 3 image URLs per product, names with quotes. */
export function catalogueCsv(rows: number): string {
  const lines = ['S. No.,Product Name,Input Image Urls'];
  for (let serial = 1; serial <= rows; serial += 1) {
    const urls = Array.from(
      { length: 1 + (serial % 3) },
      (_, index) =>
        `https://img.example.com/catalogue/${serial}/${index}-${(serial * 7919 + index) % 100_003}.jpg`,
    );
    lines.push(`${serial},"Product ${serial} ""deluxe"", size ${serial % 50}","${urls.join(', ')}"`);
  }
  return `${lines.join('\n')}\n`;
}

export function catalogueName(serial: number): string {
  return `Product ${serial} "deluxe", size ${serial % 50}`;
}
